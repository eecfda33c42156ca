import { suite } from '../bench/machines.js';
