var __create = Object.create;
var __defProp = Object.defineProperty;
var __getOwnPropDesc = Object.getOwnPropertyDescriptor;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __getProtoOf = Object.getPrototypeOf;
var __hasOwnProp = Object.prototype.hasOwnProperty;
var __commonJS = (cb, mod) => function __require() {
  try {
    return mod || (0, cb[__getOwnPropNames(cb)[0]])((mod = { exports: {} }).exports, mod), mod.exports;
  } catch (e) {
    throw mod = 0, e;
  }
};
var __copyProps = (to, from, except, desc) => {
  if (from && typeof from === "object" || typeof from === "function") {
    for (let key of __getOwnPropNames(from))
      if (!__hasOwnProp.call(to, key) && key !== except)
        __defProp(to, key, { get: () => from[key], enumerable: !(desc = __getOwnPropDesc(from, key)) || desc.enumerable });
  }
  return to;
};
var __toESM = (mod, isNodeMode, target) => (target = mod != null ? __create(__getProtoOf(mod)) : {}, __copyProps(
  // If the importer is in node compatibility mode or this is not an ESM
  // file that has been converted to a CommonJS file using a Babel-
  // compatible transform (i.e. "__esModule" has not been set), then set
  // "default" to the CommonJS "module.exports" for node compatibility.
  isNodeMode || !mod || !mod.__esModule ? __defProp(target, "default", { value: mod, enumerable: true }) : target,
  mod
));

// node_modules/fp-ts/lib/function.js
var require_function = __commonJS({
  "node_modules/fp-ts/lib/function.js"(exports) {
    "use strict";
    var __spreadArray = exports && exports.__spreadArray || function(to, from, pack) {
      if (pack || arguments.length === 2) for (var i = 0, l = from.length, ar; i < l; i++) {
        if (ar || !(i in from)) {
          if (!ar) ar = Array.prototype.slice.call(from, 0, i);
          ar[i] = from[i];
        }
      }
      return to.concat(ar || Array.prototype.slice.call(from));
    };
    Object.defineProperty(exports, "__esModule", { value: true });
    exports.dual = exports.getEndomorphismMonoid = exports.SK = exports.hole = exports.constVoid = exports.constUndefined = exports.constNull = exports.constFalse = exports.constTrue = exports.unsafeCoerce = exports.apply = exports.getRing = exports.getSemiring = exports.getMonoid = exports.getSemigroup = exports.getBooleanAlgebra = void 0;
    exports.identity = identity2;
    exports.constant = constant;
    exports.flip = flip;
    exports.flow = flow;
    exports.tuple = tuple;
    exports.increment = increment;
    exports.decrement = decrement;
    exports.absurd = absurd;
    exports.tupled = tupled;
    exports.untupled = untupled;
    exports.pipe = pipe3;
    exports.not = not2;
    var getBooleanAlgebra = function(B) {
      return function() {
        return {
          meet: function(x, y) {
            return function(a) {
              return B.meet(x(a), y(a));
            };
          },
          join: function(x, y) {
            return function(a) {
              return B.join(x(a), y(a));
            };
          },
          zero: function() {
            return B.zero;
          },
          one: function() {
            return B.one;
          },
          implies: function(x, y) {
            return function(a) {
              return B.implies(x(a), y(a));
            };
          },
          not: function(x) {
            return function(a) {
              return B.not(x(a));
            };
          }
        };
      };
    };
    exports.getBooleanAlgebra = getBooleanAlgebra;
    var getSemigroup = function(S) {
      return function() {
        return {
          concat: function(f, g) {
            return function(a) {
              return S.concat(f(a), g(a));
            };
          }
        };
      };
    };
    exports.getSemigroup = getSemigroup;
    var getMonoid = function(M) {
      var getSemigroupM = (0, exports.getSemigroup)(M);
      return function() {
        return {
          concat: getSemigroupM().concat,
          empty: function() {
            return M.empty;
          }
        };
      };
    };
    exports.getMonoid = getMonoid;
    var getSemiring = function(S) {
      return {
        add: function(f, g) {
          return function(x) {
            return S.add(f(x), g(x));
          };
        },
        zero: function() {
          return S.zero;
        },
        mul: function(f, g) {
          return function(x) {
            return S.mul(f(x), g(x));
          };
        },
        one: function() {
          return S.one;
        }
      };
    };
    exports.getSemiring = getSemiring;
    var getRing = function(R) {
      var S = (0, exports.getSemiring)(R);
      return {
        add: S.add,
        mul: S.mul,
        one: S.one,
        zero: S.zero,
        sub: function(f, g) {
          return function(x) {
            return R.sub(f(x), g(x));
          };
        }
      };
    };
    exports.getRing = getRing;
    var apply = function(a) {
      return function(f) {
        return f(a);
      };
    };
    exports.apply = apply;
    function identity2(a) {
      return a;
    }
    exports.unsafeCoerce = identity2;
    function constant(a) {
      return function() {
        return a;
      };
    }
    exports.constTrue = constant(true);
    exports.constFalse = constant(false);
    exports.constNull = constant(null);
    exports.constUndefined = constant(void 0);
    exports.constVoid = exports.constUndefined;
    function flip(f) {
      return function() {
        var args = [];
        for (var _i = 0; _i < arguments.length; _i++) {
          args[_i] = arguments[_i];
        }
        if (args.length > 1) {
          return f(args[1], args[0]);
        }
        return function(a) {
          return f(a)(args[0]);
        };
      };
    }
    function flow(ab, bc, cd, de, ef, fg, gh, hi, ij) {
      switch (arguments.length) {
        case 1:
          return ab;
        case 2:
          return function() {
            return bc(ab.apply(this, arguments));
          };
        case 3:
          return function() {
            return cd(bc(ab.apply(this, arguments)));
          };
        case 4:
          return function() {
            return de(cd(bc(ab.apply(this, arguments))));
          };
        case 5:
          return function() {
            return ef(de(cd(bc(ab.apply(this, arguments)))));
          };
        case 6:
          return function() {
            return fg(ef(de(cd(bc(ab.apply(this, arguments))))));
          };
        case 7:
          return function() {
            return gh(fg(ef(de(cd(bc(ab.apply(this, arguments)))))));
          };
        case 8:
          return function() {
            return hi(gh(fg(ef(de(cd(bc(ab.apply(this, arguments))))))));
          };
        case 9:
          return function() {
            return ij(hi(gh(fg(ef(de(cd(bc(ab.apply(this, arguments)))))))));
          };
      }
      return;
    }
    function tuple() {
      var t5 = [];
      for (var _i = 0; _i < arguments.length; _i++) {
        t5[_i] = arguments[_i];
      }
      return t5;
    }
    function increment(n) {
      return n + 1;
    }
    function decrement(n) {
      return n - 1;
    }
    function absurd(_) {
      throw new Error("Called `absurd` function which should be uncallable");
    }
    function tupled(f) {
      return function(a) {
        return f.apply(void 0, a);
      };
    }
    function untupled(f) {
      return function() {
        var a = [];
        for (var _i = 0; _i < arguments.length; _i++) {
          a[_i] = arguments[_i];
        }
        return f(a);
      };
    }
    function pipe3(a, ab, bc, cd, de, ef, fg, gh, hi) {
      switch (arguments.length) {
        case 1:
          return a;
        case 2:
          return ab(a);
        case 3:
          return bc(ab(a));
        case 4:
          return cd(bc(ab(a)));
        case 5:
          return de(cd(bc(ab(a))));
        case 6:
          return ef(de(cd(bc(ab(a)))));
        case 7:
          return fg(ef(de(cd(bc(ab(a))))));
        case 8:
          return gh(fg(ef(de(cd(bc(ab(a)))))));
        case 9:
          return hi(gh(fg(ef(de(cd(bc(ab(a))))))));
        default: {
          var ret = arguments[0];
          for (var i = 1; i < arguments.length; i++) {
            ret = arguments[i](ret);
          }
          return ret;
        }
      }
    }
    exports.hole = absurd;
    var SK = function(_, b) {
      return b;
    };
    exports.SK = SK;
    function not2(predicate) {
      return function(a) {
        return !predicate(a);
      };
    }
    var getEndomorphismMonoid = function() {
      return {
        concat: function(first, second) {
          return flow(first, second);
        },
        empty: identity2
      };
    };
    exports.getEndomorphismMonoid = getEndomorphismMonoid;
    var dual = function(arity, body) {
      var isDataFirst = typeof arity === "number" ? function(args) {
        return args.length >= arity;
      } : arity;
      return function() {
        var args = Array.from(arguments);
        if (isDataFirst(arguments)) {
          return body.apply(this, args);
        }
        return function(self2) {
          return body.apply(void 0, __spreadArray([self2], args, false));
        };
      };
    };
    exports.dual = dual;
  }
});

// node_modules/fp-ts/lib/internal.js
var require_internal = __commonJS({
  "node_modules/fp-ts/lib/internal.js"(exports) {
    "use strict";
    var __spreadArray = exports && exports.__spreadArray || function(to, from, pack) {
      if (pack || arguments.length === 2) for (var i = 0, l = from.length, ar; i < l; i++) {
        if (ar || !(i in from)) {
          if (!ar) ar = Array.prototype.slice.call(from, 0, i);
          ar[i] = from[i];
        }
      }
      return to.concat(ar || Array.prototype.slice.call(from));
    };
    Object.defineProperty(exports, "__esModule", { value: true });
    exports.flatMapReader = exports.flatMapTask = exports.flatMapIO = exports.flatMapEither = exports.flatMapOption = exports.flatMapNullable = exports.liftOption = exports.liftNullable = exports.fromReadonlyNonEmptyArray = exports.has = exports.emptyRecord = exports.emptyReadonlyArray = exports.tail = exports.head = exports.isNonEmpty = exports.singleton = exports.right = exports.left = exports.isRight = exports.isLeft = exports.some = exports.none = exports.isSome = exports.isNone = void 0;
    var function_1 = require_function();
    var isNone = function(fa) {
      return fa._tag === "None";
    };
    exports.isNone = isNone;
    var isSome = function(fa) {
      return fa._tag === "Some";
    };
    exports.isSome = isSome;
    exports.none = { _tag: "None" };
    var some = function(a) {
      return { _tag: "Some", value: a };
    };
    exports.some = some;
    var isLeft18 = function(ma) {
      return ma._tag === "Left";
    };
    exports.isLeft = isLeft18;
    var isRight8 = function(ma) {
      return ma._tag === "Right";
    };
    exports.isRight = isRight8;
    var left21 = function(e) {
      return { _tag: "Left", left: e };
    };
    exports.left = left21;
    var right27 = function(a) {
      return { _tag: "Right", right: a };
    };
    exports.right = right27;
    var singleton = function(a) {
      return [a];
    };
    exports.singleton = singleton;
    var isNonEmpty = function(as) {
      return as.length > 0;
    };
    exports.isNonEmpty = isNonEmpty;
    var head = function(as) {
      return as[0];
    };
    exports.head = head;
    var tail = function(as) {
      return as.slice(1);
    };
    exports.tail = tail;
    exports.emptyReadonlyArray = [];
    exports.emptyRecord = {};
    exports.has = Object.prototype.hasOwnProperty;
    var fromReadonlyNonEmptyArray = function(as) {
      return __spreadArray([as[0]], as.slice(1), true);
    };
    exports.fromReadonlyNonEmptyArray = fromReadonlyNonEmptyArray;
    var liftNullable = function(F2) {
      return function(f, onNullable) {
        return function() {
          var a = [];
          for (var _i = 0; _i < arguments.length; _i++) {
            a[_i] = arguments[_i];
          }
          var o = f.apply(void 0, a);
          return F2.fromEither(o == null ? (0, exports.left)(onNullable.apply(void 0, a)) : (0, exports.right)(o));
        };
      };
    };
    exports.liftNullable = liftNullable;
    var liftOption = function(F2) {
      return function(f, onNone) {
        return function() {
          var a = [];
          for (var _i = 0; _i < arguments.length; _i++) {
            a[_i] = arguments[_i];
          }
          var o = f.apply(void 0, a);
          return F2.fromEither((0, exports.isNone)(o) ? (0, exports.left)(onNone.apply(void 0, a)) : (0, exports.right)(o.value));
        };
      };
    };
    exports.liftOption = liftOption;
    var flatMapNullable = function(F2, M) {
      return /* @__PURE__ */ (0, function_1.dual)(3, function(self2, f, onNullable) {
        return M.flatMap(self2, (0, exports.liftNullable)(F2)(f, onNullable));
      });
    };
    exports.flatMapNullable = flatMapNullable;
    var flatMapOption = function(F2, M) {
      return /* @__PURE__ */ (0, function_1.dual)(3, function(self2, f, onNone) {
        return M.flatMap(self2, (0, exports.liftOption)(F2)(f, onNone));
      });
    };
    exports.flatMapOption = flatMapOption;
    var flatMapEither = function(F2, M) {
      return /* @__PURE__ */ (0, function_1.dual)(2, function(self2, f) {
        return M.flatMap(self2, function(a) {
          return F2.fromEither(f(a));
        });
      });
    };
    exports.flatMapEither = flatMapEither;
    var flatMapIO = function(F2, M) {
      return /* @__PURE__ */ (0, function_1.dual)(2, function(self2, f) {
        return M.flatMap(self2, function(a) {
          return F2.fromIO(f(a));
        });
      });
    };
    exports.flatMapIO = flatMapIO;
    var flatMapTask = function(F2, M) {
      return /* @__PURE__ */ (0, function_1.dual)(2, function(self2, f) {
        return M.flatMap(self2, function(a) {
          return F2.fromTask(f(a));
        });
      });
    };
    exports.flatMapTask = flatMapTask;
    var flatMapReader = function(F2, M) {
      return /* @__PURE__ */ (0, function_1.dual)(2, function(self2, f) {
        return M.flatMap(self2, function(a) {
          return F2.fromReader(f(a));
        });
      });
    };
    exports.flatMapReader = flatMapReader;
  }
});

// node_modules/fp-ts/lib/Apply.js
var require_Apply = __commonJS({
  "node_modules/fp-ts/lib/Apply.js"(exports) {
    "use strict";
    var __createBinding = exports && exports.__createBinding || (Object.create ? (function(o, m, k, k2) {
      if (k2 === void 0) k2 = k;
      var desc = Object.getOwnPropertyDescriptor(m, k);
      if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
        desc = { enumerable: true, get: function() {
          return m[k];
        } };
      }
      Object.defineProperty(o, k2, desc);
    }) : (function(o, m, k, k2) {
      if (k2 === void 0) k2 = k;
      o[k2] = m[k];
    }));
    var __setModuleDefault = exports && exports.__setModuleDefault || (Object.create ? (function(o, v) {
      Object.defineProperty(o, "default", { enumerable: true, value: v });
    }) : function(o, v) {
      o["default"] = v;
    });
    var __importStar = exports && exports.__importStar || function(mod) {
      if (mod && mod.__esModule) return mod;
      var result = {};
      if (mod != null) {
        for (var k in mod) if (k !== "default" && Object.prototype.hasOwnProperty.call(mod, k)) __createBinding(result, mod, k);
      }
      __setModuleDefault(result, mod);
      return result;
    };
    Object.defineProperty(exports, "__esModule", { value: true });
    exports.ap = ap;
    exports.apFirst = apFirst;
    exports.apSecond = apSecond;
    exports.apS = apS;
    exports.getApplySemigroup = getApplySemigroup;
    exports.sequenceT = sequenceT;
    exports.sequenceS = sequenceS;
    var function_1 = require_function();
    var _ = __importStar(require_internal());
    function ap(F2, G) {
      return function(fa) {
        return function(fab) {
          return F2.ap(F2.map(fab, function(gab) {
            return function(ga) {
              return G.ap(gab, ga);
            };
          }), fa);
        };
      };
    }
    function apFirst(A) {
      return function(second) {
        return function(first) {
          return A.ap(A.map(first, function(a) {
            return function() {
              return a;
            };
          }), second);
        };
      };
    }
    function apSecond(A) {
      return function(second) {
        return function(first) {
          return A.ap(A.map(first, function() {
            return function(b) {
              return b;
            };
          }), second);
        };
      };
    }
    function apS(F2) {
      return function(name, fb) {
        return function(fa) {
          return F2.ap(F2.map(fa, function(a) {
            return function(b) {
              var _a;
              return Object.assign({}, a, (_a = {}, _a[name] = b, _a));
            };
          }), fb);
        };
      };
    }
    function getApplySemigroup(F2) {
      return function(S) {
        return {
          concat: function(first, second) {
            return F2.ap(F2.map(first, function(x) {
              return function(y) {
                return S.concat(x, y);
              };
            }), second);
          }
        };
      };
    }
    function curried(f, n, acc) {
      return function(x) {
        var combined = Array(acc.length + 1);
        for (var i = 0; i < acc.length; i++) {
          combined[i] = acc[i];
        }
        combined[acc.length] = x;
        return n === 0 ? f.apply(null, combined) : curried(f, n - 1, combined);
      };
    }
    var tupleConstructors = {
      1: function(a) {
        return [a];
      },
      2: function(a) {
        return function(b) {
          return [a, b];
        };
      },
      3: function(a) {
        return function(b) {
          return function(c) {
            return [a, b, c];
          };
        };
      },
      4: function(a) {
        return function(b) {
          return function(c) {
            return function(d) {
              return [a, b, c, d];
            };
          };
        };
      },
      5: function(a) {
        return function(b) {
          return function(c) {
            return function(d) {
              return function(e) {
                return [a, b, c, d, e];
              };
            };
          };
        };
      }
    };
    function getTupleConstructor(len) {
      if (!_.has.call(tupleConstructors, len)) {
        tupleConstructors[len] = curried(function_1.tuple, len - 1, []);
      }
      return tupleConstructors[len];
    }
    function sequenceT(F2) {
      return function() {
        var args = [];
        for (var _i = 0; _i < arguments.length; _i++) {
          args[_i] = arguments[_i];
        }
        var len = args.length;
        var f = getTupleConstructor(len);
        var fas = F2.map(args[0], f);
        for (var i = 1; i < len; i++) {
          fas = F2.ap(fas, args[i]);
        }
        return fas;
      };
    }
    function getRecordConstructor(keys) {
      var len = keys.length;
      switch (len) {
        case 1:
          return function(a) {
            var _a;
            return _a = {}, _a[keys[0]] = a, _a;
          };
        case 2:
          return function(a) {
            return function(b) {
              var _a;
              return _a = {}, _a[keys[0]] = a, _a[keys[1]] = b, _a;
            };
          };
        case 3:
          return function(a) {
            return function(b) {
              return function(c) {
                var _a;
                return _a = {}, _a[keys[0]] = a, _a[keys[1]] = b, _a[keys[2]] = c, _a;
              };
            };
          };
        case 4:
          return function(a) {
            return function(b) {
              return function(c) {
                return function(d) {
                  var _a;
                  return _a = {}, _a[keys[0]] = a, _a[keys[1]] = b, _a[keys[2]] = c, _a[keys[3]] = d, _a;
                };
              };
            };
          };
        case 5:
          return function(a) {
            return function(b) {
              return function(c) {
                return function(d) {
                  return function(e) {
                    var _a;
                    return _a = {}, _a[keys[0]] = a, _a[keys[1]] = b, _a[keys[2]] = c, _a[keys[3]] = d, _a[keys[4]] = e, _a;
                  };
                };
              };
            };
          };
        default:
          return curried(function() {
            var args = [];
            for (var _i = 0; _i < arguments.length; _i++) {
              args[_i] = arguments[_i];
            }
            var r = {};
            for (var i = 0; i < len; i++) {
              r[keys[i]] = args[i];
            }
            return r;
          }, len - 1, []);
      }
    }
    function sequenceS(F2) {
      return function(r) {
        var keys = Object.keys(r);
        var len = keys.length;
        var f = getRecordConstructor(keys);
        var fr = F2.map(r[keys[0]], f);
        for (var i = 1; i < len; i++) {
          fr = F2.ap(fr, r[keys[i]]);
        }
        return fr;
      };
    }
  }
});

// node_modules/fp-ts/lib/Functor.js
var require_Functor = __commonJS({
  "node_modules/fp-ts/lib/Functor.js"(exports) {
    "use strict";
    Object.defineProperty(exports, "__esModule", { value: true });
    exports.map = map6;
    exports.flap = flap;
    exports.bindTo = bindTo;
    exports.let = let_;
    exports.getFunctorComposition = getFunctorComposition;
    exports.as = as;
    exports.asUnit = asUnit;
    var function_1 = require_function();
    function map6(F2, G) {
      return function(f) {
        return function(fa) {
          return F2.map(fa, function(ga) {
            return G.map(ga, f);
          });
        };
      };
    }
    function flap(F2) {
      return function(a) {
        return function(fab) {
          return F2.map(fab, function(f) {
            return f(a);
          });
        };
      };
    }
    function bindTo(F2) {
      return function(name) {
        return function(fa) {
          return F2.map(fa, function(a) {
            var _a;
            return _a = {}, _a[name] = a, _a;
          });
        };
      };
    }
    function let_(F2) {
      return function(name, f) {
        return function(fa) {
          return F2.map(fa, function(a) {
            var _a;
            return Object.assign({}, a, (_a = {}, _a[name] = f(a), _a));
          });
        };
      };
    }
    function getFunctorComposition(F2, G) {
      var _map = map6(F2, G);
      return {
        map: function(fga, f) {
          return (0, function_1.pipe)(fga, _map(f));
        }
      };
    }
    function as(F2) {
      return function(self2, b) {
        return F2.map(self2, function() {
          return b;
        });
      };
    }
    function asUnit(F2) {
      var asM = as(F2);
      return function(self2) {
        return asM(self2, void 0);
      };
    }
  }
});

// node_modules/fp-ts/lib/Applicative.js
var require_Applicative = __commonJS({
  "node_modules/fp-ts/lib/Applicative.js"(exports) {
    "use strict";
    Object.defineProperty(exports, "__esModule", { value: true });
    exports.getApplicativeMonoid = getApplicativeMonoid;
    exports.getApplicativeComposition = getApplicativeComposition;
    var Apply_1 = require_Apply();
    var function_1 = require_function();
    var Functor_1 = require_Functor();
    function getApplicativeMonoid(F2) {
      var f = (0, Apply_1.getApplySemigroup)(F2);
      return function(M) {
        return {
          concat: f(M).concat,
          empty: F2.of(M.empty)
        };
      };
    }
    function getApplicativeComposition(F2, G) {
      var map6 = (0, Functor_1.getFunctorComposition)(F2, G).map;
      var _ap = (0, Apply_1.ap)(F2, G);
      return {
        map: map6,
        of: function(a) {
          return F2.of(G.of(a));
        },
        ap: function(fgab, fga) {
          return (0, function_1.pipe)(fgab, _ap(fga));
        }
      };
    }
  }
});

// node_modules/fp-ts/lib/Chain.js
var require_Chain = __commonJS({
  "node_modules/fp-ts/lib/Chain.js"(exports) {
    "use strict";
    Object.defineProperty(exports, "__esModule", { value: true });
    exports.chainFirst = chainFirst2;
    exports.tap = tap;
    exports.bind = bind2;
    function chainFirst2(M) {
      var tapM = tap(M);
      return function(f) {
        return function(first) {
          return tapM(first, f);
        };
      };
    }
    function tap(M) {
      return function(first, f) {
        return M.chain(first, function(a) {
          return M.map(f(a), function() {
            return a;
          });
        });
      };
    }
    function bind2(M) {
      return function(name, f) {
        return function(ma) {
          return M.chain(ma, function(a) {
            return M.map(f(a), function(b) {
              var _a;
              return Object.assign({}, a, (_a = {}, _a[name] = b, _a));
            });
          });
        };
      };
    }
  }
});

// node_modules/fp-ts/lib/ChainRec.js
var require_ChainRec = __commonJS({
  "node_modules/fp-ts/lib/ChainRec.js"(exports) {
    "use strict";
    Object.defineProperty(exports, "__esModule", { value: true });
    exports.tailRec = void 0;
    var tailRec = function(startWith, f) {
      var ab = f(startWith);
      while (ab._tag === "Left") {
        ab = f(ab.left);
      }
      return ab.right;
    };
    exports.tailRec = tailRec;
  }
});

// node_modules/fp-ts/lib/FromEither.js
var require_FromEither = __commonJS({
  "node_modules/fp-ts/lib/FromEither.js"(exports) {
    "use strict";
    var __createBinding = exports && exports.__createBinding || (Object.create ? (function(o, m, k, k2) {
      if (k2 === void 0) k2 = k;
      var desc = Object.getOwnPropertyDescriptor(m, k);
      if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
        desc = { enumerable: true, get: function() {
          return m[k];
        } };
      }
      Object.defineProperty(o, k2, desc);
    }) : (function(o, m, k, k2) {
      if (k2 === void 0) k2 = k;
      o[k2] = m[k];
    }));
    var __setModuleDefault = exports && exports.__setModuleDefault || (Object.create ? (function(o, v) {
      Object.defineProperty(o, "default", { enumerable: true, value: v });
    }) : function(o, v) {
      o["default"] = v;
    });
    var __importStar = exports && exports.__importStar || function(mod) {
      if (mod && mod.__esModule) return mod;
      var result = {};
      if (mod != null) {
        for (var k in mod) if (k !== "default" && Object.prototype.hasOwnProperty.call(mod, k)) __createBinding(result, mod, k);
      }
      __setModuleDefault(result, mod);
      return result;
    };
    Object.defineProperty(exports, "__esModule", { value: true });
    exports.fromOption = fromOption;
    exports.fromPredicate = fromPredicate;
    exports.fromOptionK = fromOptionK;
    exports.chainOptionK = chainOptionK;
    exports.fromEitherK = fromEitherK;
    exports.chainEitherK = chainEitherK;
    exports.chainFirstEitherK = chainFirstEitherK;
    exports.filterOrElse = filterOrElse;
    exports.tapEither = tapEither;
    var Chain_1 = require_Chain();
    var function_1 = require_function();
    var _ = __importStar(require_internal());
    function fromOption(F2) {
      return function(onNone) {
        return function(ma) {
          return F2.fromEither(_.isNone(ma) ? _.left(onNone()) : _.right(ma.value));
        };
      };
    }
    function fromPredicate(F2) {
      return function(predicate, onFalse) {
        return function(a) {
          return F2.fromEither(predicate(a) ? _.right(a) : _.left(onFalse(a)));
        };
      };
    }
    function fromOptionK(F2) {
      var fromOptionF = fromOption(F2);
      return function(onNone) {
        var from = fromOptionF(onNone);
        return function(f) {
          return (0, function_1.flow)(f, from);
        };
      };
    }
    function chainOptionK(F2, M) {
      var fromOptionKF = fromOptionK(F2);
      return function(onNone) {
        var from = fromOptionKF(onNone);
        return function(f) {
          return function(ma) {
            return M.chain(ma, from(f));
          };
        };
      };
    }
    function fromEitherK(F2) {
      return function(f) {
        return (0, function_1.flow)(f, F2.fromEither);
      };
    }
    function chainEitherK(F2, M) {
      var fromEitherKF = fromEitherK(F2);
      return function(f) {
        return function(ma) {
          return M.chain(ma, fromEitherKF(f));
        };
      };
    }
    function chainFirstEitherK(F2, M) {
      var tapEitherM = tapEither(F2, M);
      return function(f) {
        return function(ma) {
          return tapEitherM(ma, f);
        };
      };
    }
    function filterOrElse(F2, M) {
      return function(predicate, onFalse) {
        return function(ma) {
          return M.chain(ma, function(a) {
            return F2.fromEither(predicate(a) ? _.right(a) : _.left(onFalse(a)));
          });
        };
      };
    }
    function tapEither(F2, M) {
      var fromEither = fromEitherK(F2);
      var tapM = (0, Chain_1.tap)(M);
      return function(self2, f) {
        return tapM(self2, fromEither(f));
      };
    }
  }
});

// node_modules/fp-ts/lib/Separated.js
var require_Separated = __commonJS({
  "node_modules/fp-ts/lib/Separated.js"(exports) {
    "use strict";
    Object.defineProperty(exports, "__esModule", { value: true });
    exports.right = exports.left = exports.flap = exports.Functor = exports.Bifunctor = exports.URI = exports.bimap = exports.mapLeft = exports.map = exports.separated = void 0;
    var function_1 = require_function();
    var Functor_1 = require_Functor();
    var separated = function(left22, right28) {
      return { left: left22, right: right28 };
    };
    exports.separated = separated;
    var _map = function(fa, f) {
      return (0, function_1.pipe)(fa, (0, exports.map)(f));
    };
    var _mapLeft = function(fa, f) {
      return (0, function_1.pipe)(fa, (0, exports.mapLeft)(f));
    };
    var _bimap = function(fa, g, f) {
      return (0, function_1.pipe)(fa, (0, exports.bimap)(g, f));
    };
    var map6 = function(f) {
      return function(fa) {
        return (0, exports.separated)((0, exports.left)(fa), f((0, exports.right)(fa)));
      };
    };
    exports.map = map6;
    var mapLeft6 = function(f) {
      return function(fa) {
        return (0, exports.separated)(f((0, exports.left)(fa)), (0, exports.right)(fa));
      };
    };
    exports.mapLeft = mapLeft6;
    var bimap2 = function(f, g) {
      return function(fa) {
        return (0, exports.separated)(f((0, exports.left)(fa)), g((0, exports.right)(fa)));
      };
    };
    exports.bimap = bimap2;
    exports.URI = "Separated";
    exports.Bifunctor = {
      URI: exports.URI,
      mapLeft: _mapLeft,
      bimap: _bimap
    };
    exports.Functor = {
      URI: exports.URI,
      map: _map
    };
    exports.flap = (0, Functor_1.flap)(exports.Functor);
    var left21 = function(s) {
      return s.left;
    };
    exports.left = left21;
    var right27 = function(s) {
      return s.right;
    };
    exports.right = right27;
  }
});

// node_modules/fp-ts/lib/Witherable.js
var require_Witherable = __commonJS({
  "node_modules/fp-ts/lib/Witherable.js"(exports) {
    "use strict";
    var __createBinding = exports && exports.__createBinding || (Object.create ? (function(o, m, k, k2) {
      if (k2 === void 0) k2 = k;
      var desc = Object.getOwnPropertyDescriptor(m, k);
      if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
        desc = { enumerable: true, get: function() {
          return m[k];
        } };
      }
      Object.defineProperty(o, k2, desc);
    }) : (function(o, m, k, k2) {
      if (k2 === void 0) k2 = k;
      o[k2] = m[k];
    }));
    var __setModuleDefault = exports && exports.__setModuleDefault || (Object.create ? (function(o, v) {
      Object.defineProperty(o, "default", { enumerable: true, value: v });
    }) : function(o, v) {
      o["default"] = v;
    });
    var __importStar = exports && exports.__importStar || function(mod) {
      if (mod && mod.__esModule) return mod;
      var result = {};
      if (mod != null) {
        for (var k in mod) if (k !== "default" && Object.prototype.hasOwnProperty.call(mod, k)) __createBinding(result, mod, k);
      }
      __setModuleDefault(result, mod);
      return result;
    };
    Object.defineProperty(exports, "__esModule", { value: true });
    exports.wiltDefault = wiltDefault;
    exports.witherDefault = witherDefault;
    exports.filterE = filterE;
    var _ = __importStar(require_internal());
    function wiltDefault(T, C) {
      return function(F2) {
        var traverseF = T.traverse(F2);
        return function(wa, f) {
          return F2.map(traverseF(wa, f), C.separate);
        };
      };
    }
    function witherDefault(T, C) {
      return function(F2) {
        var traverseF = T.traverse(F2);
        return function(wa, f) {
          return F2.map(traverseF(wa, f), C.compact);
        };
      };
    }
    function filterE(W) {
      return function(F2) {
        var witherF = W.wither(F2);
        return function(predicate) {
          return function(ga) {
            return witherF(ga, function(a) {
              return F2.map(predicate(a), function(b) {
                return b ? _.some(a) : _.none;
              });
            });
          };
        };
      };
    }
  }
});

// node_modules/fp-ts/lib/Either.js
var require_Either = __commonJS({
  "node_modules/fp-ts/lib/Either.js"(exports) {
    "use strict";
    var __createBinding = exports && exports.__createBinding || (Object.create ? (function(o, m, k, k2) {
      if (k2 === void 0) k2 = k;
      var desc = Object.getOwnPropertyDescriptor(m, k);
      if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
        desc = { enumerable: true, get: function() {
          return m[k];
        } };
      }
      Object.defineProperty(o, k2, desc);
    }) : (function(o, m, k, k2) {
      if (k2 === void 0) k2 = k;
      o[k2] = m[k];
    }));
    var __setModuleDefault = exports && exports.__setModuleDefault || (Object.create ? (function(o, v) {
      Object.defineProperty(o, "default", { enumerable: true, value: v });
    }) : function(o, v) {
      o["default"] = v;
    });
    var __importStar = exports && exports.__importStar || function(mod) {
      if (mod && mod.__esModule) return mod;
      var result = {};
      if (mod != null) {
        for (var k in mod) if (k !== "default" && Object.prototype.hasOwnProperty.call(mod, k)) __createBinding(result, mod, k);
      }
      __setModuleDefault(result, mod);
      return result;
    };
    Object.defineProperty(exports, "__esModule", { value: true });
    exports.match = exports.foldW = exports.matchW = exports.isRight = exports.isLeft = exports.fromOption = exports.fromPredicate = exports.FromEither = exports.MonadThrow = exports.throwError = exports.ChainRec = exports.Extend = exports.extend = exports.Alt = exports.alt = exports.altW = exports.Bifunctor = exports.mapLeft = exports.bimap = exports.Traversable = exports.sequence = exports.traverse = exports.Foldable = exports.reduceRight = exports.foldMap = exports.reduce = exports.Monad = exports.Chain = exports.Applicative = exports.Apply = exports.ap = exports.apW = exports.Pointed = exports.of = exports.asUnit = exports.as = exports.Functor = exports.map = exports.getAltValidation = exports.getApplicativeValidation = exports.getWitherable = exports.getFilterable = exports.getCompactable = exports.getSemigroup = exports.getEq = exports.getShow = exports.URI = exports.flatMap = exports.right = exports.left = void 0;
    exports.either = exports.stringifyJSON = exports.chainFirstW = exports.chainFirst = exports.chain = exports.chainW = exports.sequenceArray = exports.traverseArray = exports.traverseArrayWithIndex = exports.traverseReadonlyArrayWithIndex = exports.traverseReadonlyNonEmptyArrayWithIndex = exports.ApT = exports.apSW = exports.apS = exports.bindW = exports.bind = exports.let = exports.bindTo = exports.Do = exports.exists = exports.toUnion = exports.chainNullableK = exports.fromNullableK = exports.tryCatchK = exports.tryCatch = exports.fromNullable = exports.orElse = exports.orElseW = exports.swap = exports.filterOrElseW = exports.filterOrElse = exports.flatMapOption = exports.flatMapNullable = exports.liftOption = exports.liftNullable = exports.chainOptionKW = exports.chainOptionK = exports.fromOptionK = exports.duplicate = exports.flatten = exports.flattenW = exports.tap = exports.apSecondW = exports.apSecond = exports.apFirstW = exports.apFirst = exports.flap = exports.getOrElse = exports.getOrElseW = exports.fold = void 0;
    exports.getValidationMonoid = exports.getValidationSemigroup = exports.getApplyMonoid = exports.getApplySemigroup = void 0;
    exports.toError = toError;
    exports.elem = elem;
    exports.parseJSON = parseJSON;
    exports.getValidation = getValidation;
    var Applicative_1 = require_Applicative();
    var Apply_1 = require_Apply();
    var chainable = __importStar(require_Chain());
    var ChainRec_1 = require_ChainRec();
    var FromEither_1 = require_FromEither();
    var function_1 = require_function();
    var Functor_1 = require_Functor();
    var _ = __importStar(require_internal());
    var Separated_1 = require_Separated();
    var Witherable_1 = require_Witherable();
    exports.left = _.left;
    exports.right = _.right;
    exports.flatMap = (0, function_1.dual)(2, function(ma, f) {
      return (0, exports.isLeft)(ma) ? ma : f(ma.right);
    });
    var _map = function(fa, f) {
      return (0, function_1.pipe)(fa, (0, exports.map)(f));
    };
    var _ap = function(fab, fa) {
      return (0, function_1.pipe)(fab, (0, exports.ap)(fa));
    };
    var _reduce = function(fa, b, f) {
      return (0, function_1.pipe)(fa, (0, exports.reduce)(b, f));
    };
    var _foldMap = function(M) {
      return function(fa, f) {
        var foldMapM = (0, exports.foldMap)(M);
        return (0, function_1.pipe)(fa, foldMapM(f));
      };
    };
    var _reduceRight = function(fa, b, f) {
      return (0, function_1.pipe)(fa, (0, exports.reduceRight)(b, f));
    };
    var _traverse = function(F2) {
      var traverseF = (0, exports.traverse)(F2);
      return function(ta, f) {
        return (0, function_1.pipe)(ta, traverseF(f));
      };
    };
    var _bimap = function(fa, f, g) {
      return (0, function_1.pipe)(fa, (0, exports.bimap)(f, g));
    };
    var _mapLeft = function(fa, f) {
      return (0, function_1.pipe)(fa, (0, exports.mapLeft)(f));
    };
    var _alt = function(fa, that) {
      return (0, function_1.pipe)(fa, (0, exports.alt)(that));
    };
    var _extend = function(wa, f) {
      return (0, function_1.pipe)(wa, (0, exports.extend)(f));
    };
    var _chainRec = function(a, f) {
      return (0, ChainRec_1.tailRec)(f(a), function(e) {
        return (0, exports.isLeft)(e) ? (0, exports.right)((0, exports.left)(e.left)) : (0, exports.isLeft)(e.right) ? (0, exports.left)(f(e.right.left)) : (0, exports.right)((0, exports.right)(e.right.right));
      });
    };
    exports.URI = "Either";
    var getShow = function(SE, SA) {
      return {
        show: function(ma) {
          return (0, exports.isLeft)(ma) ? "left(".concat(SE.show(ma.left), ")") : "right(".concat(SA.show(ma.right), ")");
        }
      };
    };
    exports.getShow = getShow;
    var getEq = function(EL, EA) {
      return {
        equals: function(x, y) {
          return x === y || ((0, exports.isLeft)(x) ? (0, exports.isLeft)(y) && EL.equals(x.left, y.left) : (0, exports.isRight)(y) && EA.equals(x.right, y.right));
        }
      };
    };
    exports.getEq = getEq;
    var getSemigroup = function(S) {
      return {
        concat: function(x, y) {
          return (0, exports.isLeft)(y) ? x : (0, exports.isLeft)(x) ? y : (0, exports.right)(S.concat(x.right, y.right));
        }
      };
    };
    exports.getSemigroup = getSemigroup;
    var getCompactable = function(M) {
      var empty = (0, exports.left)(M.empty);
      return {
        URI: exports.URI,
        _E: void 0,
        compact: function(ma) {
          return (0, exports.isLeft)(ma) ? ma : ma.right._tag === "None" ? empty : (0, exports.right)(ma.right.value);
        },
        separate: function(ma) {
          return (0, exports.isLeft)(ma) ? (0, Separated_1.separated)(ma, ma) : (0, exports.isLeft)(ma.right) ? (0, Separated_1.separated)((0, exports.right)(ma.right.left), empty) : (0, Separated_1.separated)(empty, (0, exports.right)(ma.right.right));
        }
      };
    };
    exports.getCompactable = getCompactable;
    var getFilterable = function(M) {
      var empty = (0, exports.left)(M.empty);
      var _a = (0, exports.getCompactable)(M), compact = _a.compact, separate = _a.separate;
      var filter = function(ma, predicate) {
        return (0, exports.isLeft)(ma) ? ma : predicate(ma.right) ? ma : empty;
      };
      var partition = function(ma, p) {
        return (0, exports.isLeft)(ma) ? (0, Separated_1.separated)(ma, ma) : p(ma.right) ? (0, Separated_1.separated)(empty, (0, exports.right)(ma.right)) : (0, Separated_1.separated)((0, exports.right)(ma.right), empty);
      };
      return {
        URI: exports.URI,
        _E: void 0,
        map: _map,
        compact,
        separate,
        filter,
        filterMap: function(ma, f) {
          if ((0, exports.isLeft)(ma)) {
            return ma;
          }
          var ob = f(ma.right);
          return ob._tag === "None" ? empty : (0, exports.right)(ob.value);
        },
        partition,
        partitionMap: function(ma, f) {
          if ((0, exports.isLeft)(ma)) {
            return (0, Separated_1.separated)(ma, ma);
          }
          var e = f(ma.right);
          return (0, exports.isLeft)(e) ? (0, Separated_1.separated)((0, exports.right)(e.left), empty) : (0, Separated_1.separated)(empty, (0, exports.right)(e.right));
        }
      };
    };
    exports.getFilterable = getFilterable;
    var getWitherable = function(M) {
      var F_ = (0, exports.getFilterable)(M);
      var C = (0, exports.getCompactable)(M);
      return {
        URI: exports.URI,
        _E: void 0,
        map: _map,
        compact: F_.compact,
        separate: F_.separate,
        filter: F_.filter,
        filterMap: F_.filterMap,
        partition: F_.partition,
        partitionMap: F_.partitionMap,
        traverse: _traverse,
        sequence: exports.sequence,
        reduce: _reduce,
        foldMap: _foldMap,
        reduceRight: _reduceRight,
        wither: (0, Witherable_1.witherDefault)(exports.Traversable, C),
        wilt: (0, Witherable_1.wiltDefault)(exports.Traversable, C)
      };
    };
    exports.getWitherable = getWitherable;
    var getApplicativeValidation = function(SE) {
      return {
        URI: exports.URI,
        _E: void 0,
        map: _map,
        ap: function(fab, fa) {
          return (0, exports.isLeft)(fab) ? (0, exports.isLeft)(fa) ? (0, exports.left)(SE.concat(fab.left, fa.left)) : fab : (0, exports.isLeft)(fa) ? fa : (0, exports.right)(fab.right(fa.right));
        },
        of: exports.of
      };
    };
    exports.getApplicativeValidation = getApplicativeValidation;
    var getAltValidation = function(SE) {
      return {
        URI: exports.URI,
        _E: void 0,
        map: _map,
        alt: function(me, that) {
          if ((0, exports.isRight)(me)) {
            return me;
          }
          var ea = that();
          return (0, exports.isLeft)(ea) ? (0, exports.left)(SE.concat(me.left, ea.left)) : ea;
        }
      };
    };
    exports.getAltValidation = getAltValidation;
    var map6 = function(f) {
      return function(fa) {
        return (0, exports.isLeft)(fa) ? fa : (0, exports.right)(f(fa.right));
      };
    };
    exports.map = map6;
    exports.Functor = {
      URI: exports.URI,
      map: _map
    };
    exports.as = (0, function_1.dual)(2, (0, Functor_1.as)(exports.Functor));
    exports.asUnit = (0, Functor_1.asUnit)(exports.Functor);
    exports.of = exports.right;
    exports.Pointed = {
      URI: exports.URI,
      of: exports.of
    };
    var apW = function(fa) {
      return function(fab) {
        return (0, exports.isLeft)(fab) ? fab : (0, exports.isLeft)(fa) ? fa : (0, exports.right)(fab.right(fa.right));
      };
    };
    exports.apW = apW;
    exports.ap = exports.apW;
    exports.Apply = {
      URI: exports.URI,
      map: _map,
      ap: _ap
    };
    exports.Applicative = {
      URI: exports.URI,
      map: _map,
      ap: _ap,
      of: exports.of
    };
    exports.Chain = {
      URI: exports.URI,
      map: _map,
      ap: _ap,
      chain: exports.flatMap
    };
    exports.Monad = {
      URI: exports.URI,
      map: _map,
      ap: _ap,
      of: exports.of,
      chain: exports.flatMap
    };
    var reduce = function(b, f) {
      return function(fa) {
        return (0, exports.isLeft)(fa) ? b : f(b, fa.right);
      };
    };
    exports.reduce = reduce;
    var foldMap = function(M) {
      return function(f) {
        return function(fa) {
          return (0, exports.isLeft)(fa) ? M.empty : f(fa.right);
        };
      };
    };
    exports.foldMap = foldMap;
    var reduceRight = function(b, f) {
      return function(fa) {
        return (0, exports.isLeft)(fa) ? b : f(fa.right, b);
      };
    };
    exports.reduceRight = reduceRight;
    exports.Foldable = {
      URI: exports.URI,
      reduce: _reduce,
      foldMap: _foldMap,
      reduceRight: _reduceRight
    };
    var traverse = function(F2) {
      return function(f) {
        return function(ta) {
          return (0, exports.isLeft)(ta) ? F2.of((0, exports.left)(ta.left)) : F2.map(f(ta.right), exports.right);
        };
      };
    };
    exports.traverse = traverse;
    var sequence = function(F2) {
      return function(ma) {
        return (0, exports.isLeft)(ma) ? F2.of((0, exports.left)(ma.left)) : F2.map(ma.right, exports.right);
      };
    };
    exports.sequence = sequence;
    exports.Traversable = {
      URI: exports.URI,
      map: _map,
      reduce: _reduce,
      foldMap: _foldMap,
      reduceRight: _reduceRight,
      traverse: _traverse,
      sequence: exports.sequence
    };
    var bimap2 = function(f, g) {
      return function(fa) {
        return (0, exports.isLeft)(fa) ? (0, exports.left)(f(fa.left)) : (0, exports.right)(g(fa.right));
      };
    };
    exports.bimap = bimap2;
    var mapLeft6 = function(f) {
      return function(fa) {
        return (0, exports.isLeft)(fa) ? (0, exports.left)(f(fa.left)) : fa;
      };
    };
    exports.mapLeft = mapLeft6;
    exports.Bifunctor = {
      URI: exports.URI,
      bimap: _bimap,
      mapLeft: _mapLeft
    };
    var altW = function(that) {
      return function(fa) {
        return (0, exports.isLeft)(fa) ? that() : fa;
      };
    };
    exports.altW = altW;
    exports.alt = exports.altW;
    exports.Alt = {
      URI: exports.URI,
      map: _map,
      alt: _alt
    };
    var extend = function(f) {
      return function(wa) {
        return (0, exports.isLeft)(wa) ? wa : (0, exports.right)(f(wa));
      };
    };
    exports.extend = extend;
    exports.Extend = {
      URI: exports.URI,
      map: _map,
      extend: _extend
    };
    exports.ChainRec = {
      URI: exports.URI,
      map: _map,
      ap: _ap,
      chain: exports.flatMap,
      chainRec: _chainRec
    };
    exports.throwError = exports.left;
    exports.MonadThrow = {
      URI: exports.URI,
      map: _map,
      ap: _ap,
      of: exports.of,
      chain: exports.flatMap,
      throwError: exports.throwError
    };
    exports.FromEither = {
      URI: exports.URI,
      fromEither: function_1.identity
    };
    exports.fromPredicate = (0, FromEither_1.fromPredicate)(exports.FromEither);
    exports.fromOption = /* @__PURE__ */ (0, FromEither_1.fromOption)(exports.FromEither);
    exports.isLeft = _.isLeft;
    exports.isRight = _.isRight;
    var matchW = function(onLeft, onRight) {
      return function(ma) {
        return (0, exports.isLeft)(ma) ? onLeft(ma.left) : onRight(ma.right);
      };
    };
    exports.matchW = matchW;
    exports.foldW = exports.matchW;
    exports.match = exports.matchW;
    exports.fold = exports.match;
    var getOrElseW3 = function(onLeft) {
      return function(ma) {
        return (0, exports.isLeft)(ma) ? onLeft(ma.left) : ma.right;
      };
    };
    exports.getOrElseW = getOrElseW3;
    exports.getOrElse = exports.getOrElseW;
    exports.flap = (0, Functor_1.flap)(exports.Functor);
    exports.apFirst = (0, Apply_1.apFirst)(exports.Apply);
    exports.apFirstW = exports.apFirst;
    exports.apSecond = (0, Apply_1.apSecond)(exports.Apply);
    exports.apSecondW = exports.apSecond;
    exports.tap = (0, function_1.dual)(2, chainable.tap(exports.Chain));
    exports.flattenW = /* @__PURE__ */ (0, exports.flatMap)(function_1.identity);
    exports.flatten = exports.flattenW;
    exports.duplicate = (0, exports.extend)(function_1.identity);
    exports.fromOptionK = /* @__PURE__ */ (0, FromEither_1.fromOptionK)(exports.FromEither);
    exports.chainOptionK = (0, FromEither_1.chainOptionK)(exports.FromEither, exports.Chain);
    exports.chainOptionKW = exports.chainOptionK;
    var _FromEither = {
      fromEither: exports.FromEither.fromEither
    };
    exports.liftNullable = _.liftNullable(_FromEither);
    exports.liftOption = _.liftOption(_FromEither);
    var _FlatMap = {
      flatMap: exports.flatMap
    };
    exports.flatMapNullable = _.flatMapNullable(_FromEither, _FlatMap);
    exports.flatMapOption = _.flatMapOption(_FromEither, _FlatMap);
    exports.filterOrElse = (0, FromEither_1.filterOrElse)(exports.FromEither, exports.Chain);
    exports.filterOrElseW = exports.filterOrElse;
    var swap = function(ma) {
      return (0, exports.isLeft)(ma) ? (0, exports.right)(ma.left) : (0, exports.left)(ma.right);
    };
    exports.swap = swap;
    var orElseW = function(onLeft) {
      return function(ma) {
        return (0, exports.isLeft)(ma) ? onLeft(ma.left) : ma;
      };
    };
    exports.orElseW = orElseW;
    exports.orElse = exports.orElseW;
    var fromNullable = function(e) {
      return function(a) {
        return a == null ? (0, exports.left)(e) : (0, exports.right)(a);
      };
    };
    exports.fromNullable = fromNullable;
    var tryCatch = function(f, onThrow) {
      try {
        return (0, exports.right)(f());
      } catch (e) {
        return (0, exports.left)(onThrow(e));
      }
    };
    exports.tryCatch = tryCatch;
    var tryCatchK = function(f, onThrow) {
      return function() {
        var a = [];
        for (var _i = 0; _i < arguments.length; _i++) {
          a[_i] = arguments[_i];
        }
        return (0, exports.tryCatch)(function() {
          return f.apply(void 0, a);
        }, onThrow);
      };
    };
    exports.tryCatchK = tryCatchK;
    var fromNullableK = function(e) {
      var from = (0, exports.fromNullable)(e);
      return function(f) {
        return (0, function_1.flow)(f, from);
      };
    };
    exports.fromNullableK = fromNullableK;
    var chainNullableK = function(e) {
      var from = (0, exports.fromNullableK)(e);
      return function(f) {
        return (0, exports.flatMap)(from(f));
      };
    };
    exports.chainNullableK = chainNullableK;
    exports.toUnion = (0, exports.foldW)(function_1.identity, function_1.identity);
    function toError(e) {
      try {
        return e instanceof Error ? e : new Error(String(e));
      } catch (error) {
        return new Error();
      }
    }
    function elem(E35) {
      return function(a, ma) {
        if (ma === void 0) {
          var elemE_1 = elem(E35);
          return function(ma2) {
            return elemE_1(a, ma2);
          };
        }
        return (0, exports.isLeft)(ma) ? false : E35.equals(a, ma.right);
      };
    }
    var exists = function(predicate) {
      return function(ma) {
        return (0, exports.isLeft)(ma) ? false : predicate(ma.right);
      };
    };
    exports.exists = exists;
    exports.Do = (0, exports.of)(_.emptyRecord);
    exports.bindTo = (0, Functor_1.bindTo)(exports.Functor);
    var let_ = /* @__PURE__ */ (0, Functor_1.let)(exports.Functor);
    exports.let = let_;
    exports.bind = chainable.bind(exports.Chain);
    exports.bindW = exports.bind;
    exports.apS = (0, Apply_1.apS)(exports.Apply);
    exports.apSW = exports.apS;
    exports.ApT = (0, exports.of)(_.emptyReadonlyArray);
    var traverseReadonlyNonEmptyArrayWithIndex = function(f) {
      return function(as) {
        var e = f(0, _.head(as));
        if ((0, exports.isLeft)(e)) {
          return e;
        }
        var out = [e.right];
        for (var i = 1; i < as.length; i++) {
          var e_1 = f(i, as[i]);
          if ((0, exports.isLeft)(e_1)) {
            return e_1;
          }
          out.push(e_1.right);
        }
        return (0, exports.right)(out);
      };
    };
    exports.traverseReadonlyNonEmptyArrayWithIndex = traverseReadonlyNonEmptyArrayWithIndex;
    var traverseReadonlyArrayWithIndex = function(f) {
      var g = (0, exports.traverseReadonlyNonEmptyArrayWithIndex)(f);
      return function(as) {
        return _.isNonEmpty(as) ? g(as) : exports.ApT;
      };
    };
    exports.traverseReadonlyArrayWithIndex = traverseReadonlyArrayWithIndex;
    exports.traverseArrayWithIndex = exports.traverseReadonlyArrayWithIndex;
    var traverseArray = function(f) {
      return (0, exports.traverseReadonlyArrayWithIndex)(function(_2, a) {
        return f(a);
      });
    };
    exports.traverseArray = traverseArray;
    exports.sequenceArray = /* @__PURE__ */ (0, exports.traverseArray)(function_1.identity);
    exports.chainW = exports.flatMap;
    exports.chain = exports.flatMap;
    exports.chainFirst = exports.tap;
    exports.chainFirstW = exports.tap;
    function parseJSON(s, onError) {
      return (0, exports.tryCatch)(function() {
        return JSON.parse(s);
      }, onError);
    }
    var stringifyJSON = function(u, onError) {
      return (0, exports.tryCatch)(function() {
        var s = JSON.stringify(u);
        if (typeof s !== "string") {
          throw new Error("Converting unsupported structure to JSON");
        }
        return s;
      }, onError);
    };
    exports.stringifyJSON = stringifyJSON;
    exports.either = {
      URI: exports.URI,
      map: _map,
      of: exports.of,
      ap: _ap,
      chain: exports.flatMap,
      reduce: _reduce,
      foldMap: _foldMap,
      reduceRight: _reduceRight,
      traverse: _traverse,
      sequence: exports.sequence,
      bimap: _bimap,
      mapLeft: _mapLeft,
      alt: _alt,
      extend: _extend,
      chainRec: _chainRec,
      throwError: exports.throwError
    };
    exports.getApplySemigroup = /* @__PURE__ */ (0, Apply_1.getApplySemigroup)(exports.Apply);
    exports.getApplyMonoid = /* @__PURE__ */ (0, Applicative_1.getApplicativeMonoid)(exports.Applicative);
    var getValidationSemigroup = function(SE, SA) {
      return (0, Apply_1.getApplySemigroup)((0, exports.getApplicativeValidation)(SE))(SA);
    };
    exports.getValidationSemigroup = getValidationSemigroup;
    var getValidationMonoid = function(SE, MA) {
      return (0, Applicative_1.getApplicativeMonoid)((0, exports.getApplicativeValidation)(SE))(MA);
    };
    exports.getValidationMonoid = getValidationMonoid;
    function getValidation(SE) {
      var ap = (0, exports.getApplicativeValidation)(SE).ap;
      var alt = (0, exports.getAltValidation)(SE).alt;
      return {
        URI: exports.URI,
        _E: void 0,
        map: _map,
        of: exports.of,
        chain: exports.flatMap,
        bimap: _bimap,
        mapLeft: _mapLeft,
        reduce: _reduce,
        foldMap: _foldMap,
        reduceRight: _reduceRight,
        extend: _extend,
        traverse: _traverse,
        sequence: exports.sequence,
        chainRec: _chainRec,
        throwError: exports.throwError,
        ap,
        alt
      };
    }
  }
});

// node_modules/io-ts/lib/index.js
var require_lib = __commonJS({
  "node_modules/io-ts/lib/index.js"(exports) {
    "use strict";
    var __extends = exports && exports.__extends || /* @__PURE__ */ (function() {
      var extendStatics = function(d, b) {
        extendStatics = Object.setPrototypeOf || { __proto__: [] } instanceof Array && function(d2, b2) {
          d2.__proto__ = b2;
        } || function(d2, b2) {
          for (var p in b2) if (Object.prototype.hasOwnProperty.call(b2, p)) d2[p] = b2[p];
        };
        return extendStatics(d, b);
      };
      return function(d, b) {
        if (typeof b !== "function" && b !== null)
          throw new TypeError("Class extends value " + String(b) + " is not a constructor or null");
        extendStatics(d, b);
        function __() {
          this.constructor = d;
        }
        d.prototype = b === null ? Object.create(b) : (__.prototype = b.prototype, new __());
      };
    })();
    var __assign = exports && exports.__assign || function() {
      __assign = Object.assign || function(t5) {
        for (var s, i = 1, n = arguments.length; i < n; i++) {
          s = arguments[i];
          for (var p in s) if (Object.prototype.hasOwnProperty.call(s, p))
            t5[p] = s[p];
        }
        return t5;
      };
      return __assign.apply(this, arguments);
    };
    var __spreadArray = exports && exports.__spreadArray || function(to, from, pack) {
      if (pack || arguments.length === 2) for (var i = 0, l = from.length, ar; i < l; i++) {
        if (ar || !(i in from)) {
          if (!ar) ar = Array.prototype.slice.call(from, 0, i);
          ar[i] = from[i];
        }
      }
      return to.concat(ar || Array.prototype.slice.call(from));
    };
    Object.defineProperty(exports, "__esModule", { value: true });
    exports.partial = exports.PartialType = exports.type = exports.InterfaceType = exports.array = exports.ArrayType = exports.recursion = exports.RecursiveType = exports.Int = exports.brand = exports.RefinementType = exports.keyof = exports.KeyofType = exports.literal = exports.LiteralType = exports.void = exports.undefined = exports.null = exports.UnknownRecord = exports.AnyDictionaryType = exports.UnknownArray = exports.AnyArrayType = exports.boolean = exports.BooleanType = exports.bigint = exports.BigIntType = exports.number = exports.NumberType = exports.string = exports.StringType = exports.unknown = exports.UnknownType = exports.voidType = exports.VoidType = exports.UndefinedType = exports.nullType = exports.NullType = exports.getIndex = exports.getTags = exports.emptyTags = exports.mergeAll = exports.getDomainKeys = exports.appendContext = exports.getContextEntry = exports.getFunctionName = exports.identity = exports.Type = exports.success = exports.failure = exports.failures = void 0;
    exports.alias = exports.clean = exports.StrictType = exports.dictionary = exports.object = exports.ObjectType = exports.Dictionary = exports.getDefaultContext = exports.getValidationError = exports.interface = exports.Array = exports.taggedUnion = exports.TaggedUnionType = exports.Integer = exports.refinement = exports.any = exports.AnyType = exports.never = exports.NeverType = exports.Function = exports.FunctionType = exports.exact = exports.ExactType = exports.strict = exports.readonlyArray = exports.ReadonlyArrayType = exports.readonly = exports.ReadonlyType = exports.tuple = exports.TupleType = exports.intersection = exports.IntersectionType = exports.union = exports.UnionType = exports.record = exports.DictionaryType = void 0;
    var Either_1 = require_Either();
    exports.failures = Either_1.left;
    var failure2 = function(value, context, message) {
      return (0, exports.failures)([{ value, context, message }]);
    };
    exports.failure = failure2;
    exports.success = Either_1.right;
    var Type2 = (
      /** @class */
      (function() {
        function Type3(name, is2, validate, encode) {
          this.name = name;
          this.is = is2;
          this.validate = validate;
          this.encode = encode;
          this.decode = this.decode.bind(this);
        }
        Type3.prototype.pipe = function(ab, name) {
          var _this = this;
          if (name === void 0) {
            name = "pipe(".concat(this.name, ", ").concat(ab.name, ")");
          }
          return new Type3(name, ab.is, function(i, c) {
            var e = _this.validate(i, c);
            if ((0, Either_1.isLeft)(e)) {
              return e;
            }
            return ab.validate(e.right, c);
          }, this.encode === exports.identity && ab.encode === exports.identity ? exports.identity : function(b) {
            return _this.encode(ab.encode(b));
          });
        };
        Type3.prototype.asDecoder = function() {
          return this;
        };
        Type3.prototype.asEncoder = function() {
          return this;
        };
        Type3.prototype.decode = function(i) {
          return this.validate(i, [{ key: "", type: this, actual: i }]);
        };
        return Type3;
      })()
    );
    exports.Type = Type2;
    var identity2 = function(a) {
      return a;
    };
    exports.identity = identity2;
    function getFunctionName(f) {
      return f.displayName || f.name || "<function".concat(f.length, ">");
    }
    exports.getFunctionName = getFunctionName;
    function getContextEntry(key, decoder) {
      return { key, type: decoder };
    }
    exports.getContextEntry = getContextEntry;
    function appendContext(c, key, decoder, actual) {
      var len = c.length;
      var r = Array(len + 1);
      for (var i = 0; i < len; i++) {
        r[i] = c[i];
      }
      r[len] = { key, type: decoder, actual };
      return r;
    }
    exports.appendContext = appendContext;
    function pushAll(xs, ys) {
      var l = ys.length;
      for (var i = 0; i < l; i++) {
        xs.push(ys[i]);
      }
    }
    var hasOwnProperty = Object.prototype.hasOwnProperty;
    function getNameFromProps(props) {
      return Object.keys(props).map(function(k) {
        return "".concat(k, ": ").concat(props[k].name);
      }).join(", ");
    }
    function useIdentity(codecs) {
      for (var i = 0; i < codecs.length; i++) {
        if (codecs[i].encode !== exports.identity) {
          return false;
        }
      }
      return true;
    }
    function getInterfaceTypeName(props) {
      return "{ ".concat(getNameFromProps(props), " }");
    }
    function getPartialTypeName(inner) {
      return "Partial<".concat(inner, ">");
    }
    function enumerableRecord(keys, domain, codomain, name) {
      if (name === void 0) {
        name = "{ [K in ".concat(domain.name, "]: ").concat(codomain.name, " }");
      }
      var len = keys.length;
      var props = {};
      for (var i = 0; i < len; i++) {
        props[keys[i]] = codomain;
      }
      var exactCodec = (0, exports.strict)(props, name);
      return new DictionaryType(name, function(u) {
        return exactCodec.is(u);
      }, exactCodec.validate, exactCodec.encode, domain, codomain);
    }
    function getDomainKeys(domain) {
      var _a;
      if (isLiteralC(domain)) {
        var literal_1 = domain.value;
        if (exports.string.is(literal_1)) {
          return _a = {}, _a[literal_1] = null, _a;
        }
      } else if (isKeyofC(domain)) {
        return domain.keys;
      } else if (isUnionC(domain)) {
        var keys = domain.types.map(function(type3) {
          return getDomainKeys(type3);
        });
        return keys.some(undefinedType.is) ? void 0 : Object.assign.apply(Object, __spreadArray([{}], keys, false));
      }
      return void 0;
    }
    exports.getDomainKeys = getDomainKeys;
    function stripNonDomainKeys(o, domain) {
      var keys = Object.keys(o);
      var len = keys.length;
      var shouldStrip = false;
      var r = {};
      for (var i = 0; i < len; i++) {
        var k = keys[i];
        if (domain.is(k)) {
          r[k] = o[k];
        } else {
          shouldStrip = true;
        }
      }
      return shouldStrip ? r : o;
    }
    function nonEnumerableRecord(domain, codomain, name) {
      if (name === void 0) {
        name = "{ [K in ".concat(domain.name, "]: ").concat(codomain.name, " }");
      }
      return new DictionaryType(name, function(u) {
        if (exports.UnknownRecord.is(u)) {
          return Object.keys(u).every(function(k) {
            return !domain.is(k) || codomain.is(u[k]);
          });
        }
        return isAnyC(codomain) && Array.isArray(u);
      }, function(u, c) {
        if (exports.UnknownRecord.is(u)) {
          var a = {};
          var errors2 = [];
          var keys = Object.keys(u);
          var len = keys.length;
          var changed = false;
          for (var i = 0; i < len; i++) {
            var k = keys[i];
            var ok2 = u[k];
            var domainResult = domain.validate(k, appendContext(c, k, domain, k));
            if ((0, Either_1.isLeft)(domainResult)) {
              changed = true;
            } else {
              var vk = domainResult.right;
              changed = changed || vk !== k;
              k = vk;
              var codomainResult = codomain.validate(ok2, appendContext(c, k, codomain, ok2));
              if ((0, Either_1.isLeft)(codomainResult)) {
                pushAll(errors2, codomainResult.left);
              } else {
                var vok = codomainResult.right;
                changed = changed || vok !== ok2;
                a[k] = vok;
              }
            }
          }
          return errors2.length > 0 ? (0, exports.failures)(errors2) : (0, exports.success)(changed ? a : u);
        }
        if (isAnyC(codomain) && Array.isArray(u)) {
          return (0, exports.success)(u);
        }
        return (0, exports.failure)(u, c);
      }, domain.encode === exports.identity && codomain.encode === exports.identity ? function(a) {
        return stripNonDomainKeys(a, domain);
      } : function(a) {
        var s = {};
        var keys = Object.keys(stripNonDomainKeys(a, domain));
        var len = keys.length;
        for (var i = 0; i < len; i++) {
          var k = keys[i];
          s[String(domain.encode(k))] = codomain.encode(a[k]);
        }
        return s;
      }, domain, codomain);
    }
    function getUnionName(codecs) {
      return "(" + codecs.map(function(type3) {
        return type3.name;
      }).join(" | ") + ")";
    }
    function mergeAll(base, us) {
      var equal = true;
      var primitive = true;
      var baseIsNotADictionary = !exports.UnknownRecord.is(base);
      for (var _i = 0, us_1 = us; _i < us_1.length; _i++) {
        var u = us_1[_i];
        if (u !== base) {
          equal = false;
        }
        if (exports.UnknownRecord.is(u)) {
          primitive = false;
        }
      }
      if (equal) {
        return base;
      } else if (primitive) {
        return us[us.length - 1];
      }
      var r = {};
      for (var _a = 0, us_2 = us; _a < us_2.length; _a++) {
        var u = us_2[_a];
        for (var k in u) {
          if (!hasOwnProperty.call(r, k) || baseIsNotADictionary || u[k] !== base[k]) {
            r[k] = u[k];
          }
        }
      }
      return r;
    }
    exports.mergeAll = mergeAll;
    function getProps(codec) {
      switch (codec._tag) {
        case "RefinementType":
        case "ReadonlyType":
          return getProps(codec.type);
        case "InterfaceType":
        case "StrictType":
        case "PartialType":
          return codec.props;
        case "IntersectionType":
          return codec.types.reduce(function(props, type3) {
            return Object.assign(props, getProps(type3));
          }, {});
      }
    }
    function stripKeys(o, props) {
      var keys = Object.getOwnPropertyNames(o);
      var shouldStrip = false;
      var r = {};
      for (var i = 0; i < keys.length; i++) {
        var key = keys[i];
        if (!hasOwnProperty.call(props, key)) {
          shouldStrip = true;
        } else {
          r[key] = o[key];
        }
      }
      return shouldStrip ? r : o;
    }
    function getExactTypeName(codec) {
      if (isTypeC(codec)) {
        return "{| ".concat(getNameFromProps(codec.props), " |}");
      } else if (isPartialC(codec)) {
        return getPartialTypeName("{| ".concat(getNameFromProps(codec.props), " |}"));
      }
      return "Exact<".concat(codec.name, ">");
    }
    function isNonEmpty(as) {
      return as.length > 0;
    }
    exports.emptyTags = {};
    function intersect(a, b) {
      var r = [];
      for (var _i = 0, a_1 = a; _i < a_1.length; _i++) {
        var v = a_1[_i];
        if (b.indexOf(v) !== -1) {
          r.push(v);
        }
      }
      return r;
    }
    function mergeTags(a, b) {
      if (a === exports.emptyTags) {
        return b;
      }
      if (b === exports.emptyTags) {
        return a;
      }
      var r = Object.assign({}, a);
      for (var k in b) {
        if (hasOwnProperty.call(a, k)) {
          var intersection_1 = intersect(a[k], b[k]);
          if (isNonEmpty(intersection_1)) {
            r[k] = intersection_1;
          } else {
            r = exports.emptyTags;
            break;
          }
        } else {
          r[k] = b[k];
        }
      }
      return r;
    }
    function intersectTags(a, b) {
      if (a === exports.emptyTags || b === exports.emptyTags) {
        return exports.emptyTags;
      }
      var r = exports.emptyTags;
      for (var k in a) {
        if (hasOwnProperty.call(b, k)) {
          var intersection_2 = intersect(a[k], b[k]);
          if (intersection_2.length === 0) {
            if (r === exports.emptyTags) {
              r = {};
            }
            r[k] = a[k].concat(b[k]);
          }
        }
      }
      return r;
    }
    function isAnyC(codec) {
      return codec._tag === "AnyType";
    }
    function isLiteralC(codec) {
      return codec._tag === "LiteralType";
    }
    function isKeyofC(codec) {
      return codec._tag === "KeyofType";
    }
    function isTypeC(codec) {
      return codec._tag === "InterfaceType";
    }
    function isPartialC(codec) {
      return codec._tag === "PartialType";
    }
    function isStrictC(codec) {
      return codec._tag === "StrictType";
    }
    function isExactC(codec) {
      return codec._tag === "ExactType";
    }
    function isRefinementC(codec) {
      return codec._tag === "RefinementType";
    }
    function isIntersectionC(codec) {
      return codec._tag === "IntersectionType";
    }
    function isUnionC(codec) {
      return codec._tag === "UnionType";
    }
    function isRecursiveC(codec) {
      return codec._tag === "RecursiveType";
    }
    function isReadonlyC(codec) {
      return codec._tag === "ReadonlyType";
    }
    var lazyCodecs = [];
    function getTags(codec) {
      if (lazyCodecs.indexOf(codec) !== -1) {
        return exports.emptyTags;
      }
      if (isTypeC(codec) || isStrictC(codec)) {
        var index = exports.emptyTags;
        for (var k in codec.props) {
          var prop = codec.props[k];
          if (isLiteralC(prop)) {
            if (index === exports.emptyTags) {
              index = {};
            }
            index[k] = [prop.value];
          }
        }
        return index;
      } else if (isExactC(codec) || isRefinementC(codec) || isReadonlyC(codec)) {
        return getTags(codec.type);
      } else if (isIntersectionC(codec)) {
        return codec.types.reduce(function(tags2, codec2) {
          return mergeTags(tags2, getTags(codec2));
        }, exports.emptyTags);
      } else if (isUnionC(codec)) {
        return codec.types.slice(1).reduce(function(tags2, codec2) {
          return intersectTags(tags2, getTags(codec2));
        }, getTags(codec.types[0]));
      } else if (isRecursiveC(codec)) {
        lazyCodecs.push(codec);
        var tags = getTags(codec.type);
        lazyCodecs.pop();
        return tags;
      }
      return exports.emptyTags;
    }
    exports.getTags = getTags;
    function getIndex(codecs) {
      var tags = getTags(codecs[0]);
      var keys = Object.keys(tags);
      var len = codecs.length;
      var _loop_1 = function(k2) {
        var all2 = tags[k2].slice();
        var index = [tags[k2]];
        for (var i = 1; i < len; i++) {
          var codec = codecs[i];
          var ctags = getTags(codec);
          var values = ctags[k2];
          if (values === void 0) {
            return "continue-keys";
          } else {
            if (values.some(function(v) {
              return all2.indexOf(v) !== -1;
            })) {
              return "continue-keys";
            } else {
              all2.push.apply(all2, values);
              index.push(values);
            }
          }
        }
        return { value: [k2, index] };
      };
      keys: for (var _i = 0, keys_1 = keys; _i < keys_1.length; _i++) {
        var k = keys_1[_i];
        var state_1 = _loop_1(k);
        if (typeof state_1 === "object")
          return state_1.value;
        switch (state_1) {
          case "continue-keys":
            continue keys;
        }
      }
      return void 0;
    }
    exports.getIndex = getIndex;
    var NullType = (
      /** @class */
      (function(_super) {
        __extends(NullType2, _super);
        function NullType2() {
          var _this = _super.call(this, "null", function(u) {
            return u === null;
          }, function(u, c) {
            return _this.is(u) ? (0, exports.success)(u) : (0, exports.failure)(u, c);
          }, exports.identity) || this;
          _this._tag = "NullType";
          return _this;
        }
        return NullType2;
      })(Type2)
    );
    exports.NullType = NullType;
    exports.nullType = new NullType();
    exports.null = exports.nullType;
    var UndefinedType = (
      /** @class */
      (function(_super) {
        __extends(UndefinedType2, _super);
        function UndefinedType2() {
          var _this = _super.call(this, "undefined", function(u) {
            return u === void 0;
          }, function(u, c) {
            return _this.is(u) ? (0, exports.success)(u) : (0, exports.failure)(u, c);
          }, exports.identity) || this;
          _this._tag = "UndefinedType";
          return _this;
        }
        return UndefinedType2;
      })(Type2)
    );
    exports.UndefinedType = UndefinedType;
    var undefinedType = new UndefinedType();
    exports.undefined = undefinedType;
    var VoidType = (
      /** @class */
      (function(_super) {
        __extends(VoidType2, _super);
        function VoidType2() {
          var _this = _super.call(this, "void", undefinedType.is, undefinedType.validate, exports.identity) || this;
          _this._tag = "VoidType";
          return _this;
        }
        return VoidType2;
      })(Type2)
    );
    exports.VoidType = VoidType;
    exports.voidType = new VoidType();
    exports.void = exports.voidType;
    var UnknownType = (
      /** @class */
      (function(_super) {
        __extends(UnknownType2, _super);
        function UnknownType2() {
          var _this = _super.call(this, "unknown", function(_) {
            return true;
          }, exports.success, exports.identity) || this;
          _this._tag = "UnknownType";
          return _this;
        }
        return UnknownType2;
      })(Type2)
    );
    exports.UnknownType = UnknownType;
    exports.unknown = new UnknownType();
    var StringType = (
      /** @class */
      (function(_super) {
        __extends(StringType2, _super);
        function StringType2() {
          var _this = _super.call(this, "string", function(u) {
            return typeof u === "string";
          }, function(u, c) {
            return _this.is(u) ? (0, exports.success)(u) : (0, exports.failure)(u, c);
          }, exports.identity) || this;
          _this._tag = "StringType";
          return _this;
        }
        return StringType2;
      })(Type2)
    );
    exports.StringType = StringType;
    exports.string = new StringType();
    var NumberType = (
      /** @class */
      (function(_super) {
        __extends(NumberType2, _super);
        function NumberType2() {
          var _this = _super.call(this, "number", function(u) {
            return typeof u === "number";
          }, function(u, c) {
            return _this.is(u) ? (0, exports.success)(u) : (0, exports.failure)(u, c);
          }, exports.identity) || this;
          _this._tag = "NumberType";
          return _this;
        }
        return NumberType2;
      })(Type2)
    );
    exports.NumberType = NumberType;
    exports.number = new NumberType();
    var BigIntType = (
      /** @class */
      (function(_super) {
        __extends(BigIntType2, _super);
        function BigIntType2() {
          var _this = _super.call(
            this,
            "bigint",
            // tslint:disable-next-line: valid-typeof
            function(u) {
              return typeof u === "bigint";
            },
            function(u, c) {
              return _this.is(u) ? (0, exports.success)(u) : (0, exports.failure)(u, c);
            },
            exports.identity
          ) || this;
          _this._tag = "BigIntType";
          return _this;
        }
        return BigIntType2;
      })(Type2)
    );
    exports.BigIntType = BigIntType;
    exports.bigint = new BigIntType();
    var BooleanType = (
      /** @class */
      (function(_super) {
        __extends(BooleanType2, _super);
        function BooleanType2() {
          var _this = _super.call(this, "boolean", function(u) {
            return typeof u === "boolean";
          }, function(u, c) {
            return _this.is(u) ? (0, exports.success)(u) : (0, exports.failure)(u, c);
          }, exports.identity) || this;
          _this._tag = "BooleanType";
          return _this;
        }
        return BooleanType2;
      })(Type2)
    );
    exports.BooleanType = BooleanType;
    exports.boolean = new BooleanType();
    var AnyArrayType = (
      /** @class */
      (function(_super) {
        __extends(AnyArrayType2, _super);
        function AnyArrayType2() {
          var _this = _super.call(this, "UnknownArray", Array.isArray, function(u, c) {
            return _this.is(u) ? (0, exports.success)(u) : (0, exports.failure)(u, c);
          }, exports.identity) || this;
          _this._tag = "AnyArrayType";
          return _this;
        }
        return AnyArrayType2;
      })(Type2)
    );
    exports.AnyArrayType = AnyArrayType;
    exports.UnknownArray = new AnyArrayType();
    exports.Array = exports.UnknownArray;
    var AnyDictionaryType = (
      /** @class */
      (function(_super) {
        __extends(AnyDictionaryType2, _super);
        function AnyDictionaryType2() {
          var _this = _super.call(this, "UnknownRecord", function(u) {
            return u !== null && typeof u === "object" && !Array.isArray(u);
          }, function(u, c) {
            return _this.is(u) ? (0, exports.success)(u) : (0, exports.failure)(u, c);
          }, exports.identity) || this;
          _this._tag = "AnyDictionaryType";
          return _this;
        }
        return AnyDictionaryType2;
      })(Type2)
    );
    exports.AnyDictionaryType = AnyDictionaryType;
    exports.UnknownRecord = new AnyDictionaryType();
    var LiteralType = (
      /** @class */
      (function(_super) {
        __extends(LiteralType2, _super);
        function LiteralType2(name, is2, validate, encode, value) {
          var _this = _super.call(this, name, is2, validate, encode) || this;
          _this.value = value;
          _this._tag = "LiteralType";
          return _this;
        }
        return LiteralType2;
      })(Type2)
    );
    exports.LiteralType = LiteralType;
    function literal2(value, name) {
      if (name === void 0) {
        name = JSON.stringify(value);
      }
      var is2 = function(u) {
        return u === value;
      };
      return new LiteralType(name, is2, function(u, c) {
        return is2(u) ? (0, exports.success)(value) : (0, exports.failure)(u, c);
      }, exports.identity, value);
    }
    exports.literal = literal2;
    var KeyofType = (
      /** @class */
      (function(_super) {
        __extends(KeyofType2, _super);
        function KeyofType2(name, is2, validate, encode, keys) {
          var _this = _super.call(this, name, is2, validate, encode) || this;
          _this.keys = keys;
          _this._tag = "KeyofType";
          return _this;
        }
        return KeyofType2;
      })(Type2)
    );
    exports.KeyofType = KeyofType;
    function keyof(keys, name) {
      if (name === void 0) {
        name = Object.keys(keys).map(function(k) {
          return JSON.stringify(k);
        }).join(" | ");
      }
      var is2 = function(u) {
        return exports.string.is(u) && hasOwnProperty.call(keys, u);
      };
      return new KeyofType(name, is2, function(u, c) {
        return is2(u) ? (0, exports.success)(u) : (0, exports.failure)(u, c);
      }, exports.identity, keys);
    }
    exports.keyof = keyof;
    var RefinementType = (
      /** @class */
      (function(_super) {
        __extends(RefinementType2, _super);
        function RefinementType2(name, is2, validate, encode, type3, predicate) {
          var _this = _super.call(this, name, is2, validate, encode) || this;
          _this.type = type3;
          _this.predicate = predicate;
          _this._tag = "RefinementType";
          return _this;
        }
        return RefinementType2;
      })(Type2)
    );
    exports.RefinementType = RefinementType;
    function brand2(codec, predicate, name) {
      return refinement(codec, predicate, name);
    }
    exports.brand = brand2;
    exports.Int = brand2(exports.number, function(n) {
      return Number.isInteger(n);
    }, "Int");
    var RecursiveType = (
      /** @class */
      (function(_super) {
        __extends(RecursiveType2, _super);
        function RecursiveType2(name, is2, validate, encode, runDefinition) {
          var _this = _super.call(this, name, is2, validate, encode) || this;
          _this.runDefinition = runDefinition;
          _this._tag = "RecursiveType";
          return _this;
        }
        return RecursiveType2;
      })(Type2)
    );
    exports.RecursiveType = RecursiveType;
    Object.defineProperty(RecursiveType.prototype, "type", {
      get: function() {
        return this.runDefinition();
      },
      enumerable: true,
      configurable: true
    });
    function recursion(name, definition) {
      var cache2;
      var runDefinition = function() {
        if (!cache2) {
          cache2 = definition(Self);
          cache2.name = name;
        }
        return cache2;
      };
      var Self = new RecursiveType(name, function(u) {
        return runDefinition().is(u);
      }, function(u, c) {
        return runDefinition().validate(u, c);
      }, function(a) {
        return runDefinition().encode(a);
      }, runDefinition);
      return Self;
    }
    exports.recursion = recursion;
    var ArrayType = (
      /** @class */
      (function(_super) {
        __extends(ArrayType2, _super);
        function ArrayType2(name, is2, validate, encode, type3) {
          var _this = _super.call(this, name, is2, validate, encode) || this;
          _this.type = type3;
          _this._tag = "ArrayType";
          return _this;
        }
        return ArrayType2;
      })(Type2)
    );
    exports.ArrayType = ArrayType;
    function array2(item, name) {
      if (name === void 0) {
        name = "Array<".concat(item.name, ">");
      }
      return new ArrayType(name, function(u) {
        return exports.UnknownArray.is(u) && u.every(item.is);
      }, function(u, c) {
        var e = exports.UnknownArray.validate(u, c);
        if ((0, Either_1.isLeft)(e)) {
          return e;
        }
        var us = e.right;
        var len = us.length;
        var as = us;
        var errors2 = [];
        for (var i = 0; i < len; i++) {
          var ui = us[i];
          var result = item.validate(ui, appendContext(c, String(i), item, ui));
          if ((0, Either_1.isLeft)(result)) {
            pushAll(errors2, result.left);
          } else {
            var ai = result.right;
            if (ai !== ui) {
              if (as === us) {
                as = us.slice();
              }
              as[i] = ai;
            }
          }
        }
        return errors2.length > 0 ? (0, exports.failures)(errors2) : (0, exports.success)(as);
      }, item.encode === exports.identity ? exports.identity : function(a) {
        return a.map(item.encode);
      }, item);
    }
    exports.array = array2;
    var InterfaceType = (
      /** @class */
      (function(_super) {
        __extends(InterfaceType2, _super);
        function InterfaceType2(name, is2, validate, encode, props) {
          var _this = _super.call(this, name, is2, validate, encode) || this;
          _this.props = props;
          _this._tag = "InterfaceType";
          return _this;
        }
        return InterfaceType2;
      })(Type2)
    );
    exports.InterfaceType = InterfaceType;
    function type2(props, name) {
      if (name === void 0) {
        name = getInterfaceTypeName(props);
      }
      var keys = Object.keys(props);
      var types = keys.map(function(key) {
        return props[key];
      });
      var len = keys.length;
      return new InterfaceType(name, function(u) {
        if (exports.UnknownRecord.is(u)) {
          for (var i = 0; i < len; i++) {
            var k = keys[i];
            var uk = u[k];
            if (uk === void 0 && !hasOwnProperty.call(u, k) || !types[i].is(uk)) {
              return false;
            }
          }
          return true;
        }
        return false;
      }, function(u, c) {
        var e = exports.UnknownRecord.validate(u, c);
        if ((0, Either_1.isLeft)(e)) {
          return e;
        }
        var o = e.right;
        var a = o;
        var errors2 = [];
        for (var i = 0; i < len; i++) {
          var k = keys[i];
          var ak = a[k];
          var type_1 = types[i];
          var result = type_1.validate(ak, appendContext(c, k, type_1, ak));
          if ((0, Either_1.isLeft)(result)) {
            pushAll(errors2, result.left);
          } else {
            var vak = result.right;
            if (vak !== ak || vak === void 0 && !hasOwnProperty.call(a, k)) {
              if (a === o) {
                a = __assign({}, o);
              }
              a[k] = vak;
            }
          }
        }
        return errors2.length > 0 ? (0, exports.failures)(errors2) : (0, exports.success)(a);
      }, useIdentity(types) ? exports.identity : function(a) {
        var s = __assign({}, a);
        for (var i = 0; i < len; i++) {
          var k = keys[i];
          var encode = types[i].encode;
          if (encode !== exports.identity) {
            s[k] = encode(a[k]);
          }
        }
        return s;
      }, props);
    }
    exports.type = type2;
    exports.interface = type2;
    var PartialType = (
      /** @class */
      (function(_super) {
        __extends(PartialType2, _super);
        function PartialType2(name, is2, validate, encode, props) {
          var _this = _super.call(this, name, is2, validate, encode) || this;
          _this.props = props;
          _this._tag = "PartialType";
          return _this;
        }
        return PartialType2;
      })(Type2)
    );
    exports.PartialType = PartialType;
    function partial(props, name) {
      if (name === void 0) {
        name = getPartialTypeName(getInterfaceTypeName(props));
      }
      var keys = Object.keys(props);
      var types = keys.map(function(key) {
        return props[key];
      });
      var len = keys.length;
      return new PartialType(name, function(u) {
        if (exports.UnknownRecord.is(u)) {
          for (var i = 0; i < len; i++) {
            var k = keys[i];
            var uk = u[k];
            if (uk !== void 0 && !props[k].is(uk)) {
              return false;
            }
          }
          return true;
        }
        return false;
      }, function(u, c) {
        var e = exports.UnknownRecord.validate(u, c);
        if ((0, Either_1.isLeft)(e)) {
          return e;
        }
        var o = e.right;
        var a = o;
        var errors2 = [];
        for (var i = 0; i < len; i++) {
          var k = keys[i];
          var ak = a[k];
          var type_2 = props[k];
          var result = type_2.validate(ak, appendContext(c, k, type_2, ak));
          if ((0, Either_1.isLeft)(result)) {
            if (ak !== void 0) {
              pushAll(errors2, result.left);
            }
          } else {
            var vak = result.right;
            if (vak !== ak) {
              if (a === o) {
                a = __assign({}, o);
              }
              a[k] = vak;
            }
          }
        }
        return errors2.length > 0 ? (0, exports.failures)(errors2) : (0, exports.success)(a);
      }, useIdentity(types) ? exports.identity : function(a) {
        var s = __assign({}, a);
        for (var i = 0; i < len; i++) {
          var k = keys[i];
          var ak = a[k];
          if (ak !== void 0) {
            s[k] = types[i].encode(ak);
          }
        }
        return s;
      }, props);
    }
    exports.partial = partial;
    var DictionaryType = (
      /** @class */
      (function(_super) {
        __extends(DictionaryType2, _super);
        function DictionaryType2(name, is2, validate, encode, domain, codomain) {
          var _this = _super.call(this, name, is2, validate, encode) || this;
          _this.domain = domain;
          _this.codomain = codomain;
          _this._tag = "DictionaryType";
          return _this;
        }
        return DictionaryType2;
      })(Type2)
    );
    exports.DictionaryType = DictionaryType;
    function record(domain, codomain, name) {
      var keys = getDomainKeys(domain);
      return keys ? enumerableRecord(Object.keys(keys), domain, codomain, name) : nonEnumerableRecord(domain, codomain, name);
    }
    exports.record = record;
    var UnionType = (
      /** @class */
      (function(_super) {
        __extends(UnionType2, _super);
        function UnionType2(name, is2, validate, encode, types) {
          var _this = _super.call(this, name, is2, validate, encode) || this;
          _this.types = types;
          _this._tag = "UnionType";
          return _this;
        }
        return UnionType2;
      })(Type2)
    );
    exports.UnionType = UnionType;
    function union(codecs, name) {
      if (name === void 0) {
        name = getUnionName(codecs);
      }
      var index = getIndex(codecs);
      if (index !== void 0 && codecs.length > 0) {
        var tag_1 = index[0], groups_1 = index[1];
        var len_1 = groups_1.length;
        var find_1 = function(value) {
          for (var i = 0; i < len_1; i++) {
            if (groups_1[i].indexOf(value) !== -1) {
              return i;
            }
          }
          return void 0;
        };
        return new TaggedUnionType(name, function(u) {
          if (exports.UnknownRecord.is(u)) {
            var i = find_1(u[tag_1]);
            return i !== void 0 ? codecs[i].is(u) : false;
          }
          return false;
        }, function(u, c) {
          var e = exports.UnknownRecord.validate(u, c);
          if ((0, Either_1.isLeft)(e)) {
            return e;
          }
          var r = e.right;
          var i = find_1(r[tag_1]);
          if (i === void 0) {
            return (0, exports.failure)(u, c);
          }
          var codec = codecs[i];
          return codec.validate(r, appendContext(c, String(i), codec, r));
        }, useIdentity(codecs) ? exports.identity : function(a) {
          var i = find_1(a[tag_1]);
          if (i === void 0) {
            throw new Error("no codec found to encode value in union codec ".concat(name));
          } else {
            return codecs[i].encode(a);
          }
        }, codecs, tag_1);
      } else {
        return new UnionType(name, function(u) {
          return codecs.some(function(type3) {
            return type3.is(u);
          });
        }, function(u, c) {
          var errors2 = [];
          for (var i = 0; i < codecs.length; i++) {
            var codec = codecs[i];
            var result = codec.validate(u, appendContext(c, String(i), codec, u));
            if ((0, Either_1.isLeft)(result)) {
              pushAll(errors2, result.left);
            } else {
              return (0, exports.success)(result.right);
            }
          }
          return (0, exports.failures)(errors2);
        }, useIdentity(codecs) ? exports.identity : function(a) {
          for (var _i = 0, codecs_1 = codecs; _i < codecs_1.length; _i++) {
            var codec = codecs_1[_i];
            if (codec.is(a)) {
              return codec.encode(a);
            }
          }
          throw new Error("no codec found to encode value in union type ".concat(name));
        }, codecs);
      }
    }
    exports.union = union;
    var IntersectionType = (
      /** @class */
      (function(_super) {
        __extends(IntersectionType2, _super);
        function IntersectionType2(name, is2, validate, encode, types) {
          var _this = _super.call(this, name, is2, validate, encode) || this;
          _this.types = types;
          _this._tag = "IntersectionType";
          return _this;
        }
        return IntersectionType2;
      })(Type2)
    );
    exports.IntersectionType = IntersectionType;
    function intersection(codecs, name) {
      if (name === void 0) {
        name = "(".concat(codecs.map(function(type3) {
          return type3.name;
        }).join(" & "), ")");
      }
      var len = codecs.length;
      return new IntersectionType(name, function(u) {
        return codecs.every(function(type3) {
          return type3.is(u);
        });
      }, codecs.length === 0 ? exports.success : function(u, c) {
        var us = [];
        var errors2 = [];
        for (var i = 0; i < len; i++) {
          var codec = codecs[i];
          var result = codec.validate(u, appendContext(c, String(i), codec, u));
          if ((0, Either_1.isLeft)(result)) {
            pushAll(errors2, result.left);
          } else {
            us.push(result.right);
          }
        }
        return errors2.length > 0 ? (0, exports.failures)(errors2) : (0, exports.success)(mergeAll(u, us));
      }, codecs.length === 0 ? exports.identity : function(a) {
        return mergeAll(a, codecs.map(function(codec) {
          return codec.encode(a);
        }));
      }, codecs);
    }
    exports.intersection = intersection;
    var TupleType = (
      /** @class */
      (function(_super) {
        __extends(TupleType2, _super);
        function TupleType2(name, is2, validate, encode, types) {
          var _this = _super.call(this, name, is2, validate, encode) || this;
          _this.types = types;
          _this._tag = "TupleType";
          return _this;
        }
        return TupleType2;
      })(Type2)
    );
    exports.TupleType = TupleType;
    function tuple(codecs, name) {
      if (name === void 0) {
        name = "[".concat(codecs.map(function(type3) {
          return type3.name;
        }).join(", "), "]");
      }
      var len = codecs.length;
      return new TupleType(name, function(u) {
        return exports.UnknownArray.is(u) && u.length === len && codecs.every(function(type3, i) {
          return type3.is(u[i]);
        });
      }, function(u, c) {
        var e = exports.UnknownArray.validate(u, c);
        if ((0, Either_1.isLeft)(e)) {
          return e;
        }
        var us = e.right;
        var as = us.length > len ? us.slice(0, len) : us;
        var errors2 = [];
        for (var i = 0; i < len; i++) {
          var a = us[i];
          var type_3 = codecs[i];
          var result = type_3.validate(a, appendContext(c, String(i), type_3, a));
          if ((0, Either_1.isLeft)(result)) {
            pushAll(errors2, result.left);
          } else {
            var va = result.right;
            if (va !== a) {
              if (as === us) {
                as = us.slice();
              }
              as[i] = va;
            }
          }
        }
        return errors2.length > 0 ? (0, exports.failures)(errors2) : (0, exports.success)(as);
      }, useIdentity(codecs) ? exports.identity : function(a) {
        return codecs.map(function(type3, i) {
          return type3.encode(a[i]);
        });
      }, codecs);
    }
    exports.tuple = tuple;
    var ReadonlyType = (
      /** @class */
      (function(_super) {
        __extends(ReadonlyType2, _super);
        function ReadonlyType2(name, is2, validate, encode, type3) {
          var _this = _super.call(this, name, is2, validate, encode) || this;
          _this.type = type3;
          _this._tag = "ReadonlyType";
          return _this;
        }
        return ReadonlyType2;
      })(Type2)
    );
    exports.ReadonlyType = ReadonlyType;
    function readonly2(codec, name) {
      if (name === void 0) {
        name = "Readonly<".concat(codec.name, ">");
      }
      return new ReadonlyType(name, codec.is, codec.validate, codec.encode, codec);
    }
    exports.readonly = readonly2;
    var ReadonlyArrayType = (
      /** @class */
      (function(_super) {
        __extends(ReadonlyArrayType2, _super);
        function ReadonlyArrayType2(name, is2, validate, encode, type3) {
          var _this = _super.call(this, name, is2, validate, encode) || this;
          _this.type = type3;
          _this._tag = "ReadonlyArrayType";
          return _this;
        }
        return ReadonlyArrayType2;
      })(Type2)
    );
    exports.ReadonlyArrayType = ReadonlyArrayType;
    function readonlyArray2(item, name) {
      if (name === void 0) {
        name = "ReadonlyArray<".concat(item.name, ">");
      }
      var codec = array2(item);
      return new ReadonlyArrayType(name, codec.is, codec.validate, codec.encode, item);
    }
    exports.readonlyArray = readonlyArray2;
    var strict2 = function(props, name) {
      return exact(type2(props), name);
    };
    exports.strict = strict2;
    var ExactType = (
      /** @class */
      (function(_super) {
        __extends(ExactType2, _super);
        function ExactType2(name, is2, validate, encode, type3) {
          var _this = _super.call(this, name, is2, validate, encode) || this;
          _this.type = type3;
          _this._tag = "ExactType";
          return _this;
        }
        return ExactType2;
      })(Type2)
    );
    exports.ExactType = ExactType;
    function exact(codec, name) {
      if (name === void 0) {
        name = getExactTypeName(codec);
      }
      var props = getProps(codec);
      return new ExactType(name, codec.is, function(u, c) {
        var e = exports.UnknownRecord.validate(u, c);
        if ((0, Either_1.isLeft)(e)) {
          return e;
        }
        var ce = codec.validate(u, c);
        if ((0, Either_1.isLeft)(ce)) {
          return ce;
        }
        return (0, Either_1.right)(stripKeys(ce.right, props));
      }, function(a) {
        return codec.encode(stripKeys(a, props));
      }, codec);
    }
    exports.exact = exact;
    var FunctionType = (
      /** @class */
      (function(_super) {
        __extends(FunctionType2, _super);
        function FunctionType2() {
          var _this = _super.call(
            this,
            "Function",
            // tslint:disable-next-line:strict-type-predicates
            function(u) {
              return typeof u === "function";
            },
            function(u, c) {
              return _this.is(u) ? (0, exports.success)(u) : (0, exports.failure)(u, c);
            },
            exports.identity
          ) || this;
          _this._tag = "FunctionType";
          return _this;
        }
        return FunctionType2;
      })(Type2)
    );
    exports.FunctionType = FunctionType;
    exports.Function = new FunctionType();
    var NeverType = (
      /** @class */
      (function(_super) {
        __extends(NeverType2, _super);
        function NeverType2() {
          var _this = _super.call(
            this,
            "never",
            function(_) {
              return false;
            },
            function(u, c) {
              return (0, exports.failure)(u, c);
            },
            /* istanbul ignore next */
            function() {
              throw new Error("cannot encode never");
            }
          ) || this;
          _this._tag = "NeverType";
          return _this;
        }
        return NeverType2;
      })(Type2)
    );
    exports.NeverType = NeverType;
    exports.never = new NeverType();
    var AnyType = (
      /** @class */
      (function(_super) {
        __extends(AnyType2, _super);
        function AnyType2() {
          var _this = _super.call(this, "any", function(_) {
            return true;
          }, exports.success, exports.identity) || this;
          _this._tag = "AnyType";
          return _this;
        }
        return AnyType2;
      })(Type2)
    );
    exports.AnyType = AnyType;
    exports.any = new AnyType();
    function refinement(codec, predicate, name) {
      if (name === void 0) {
        name = "(".concat(codec.name, " | ").concat(getFunctionName(predicate), ")");
      }
      return new RefinementType(name, function(u) {
        return codec.is(u) && predicate(u);
      }, function(i, c) {
        var e = codec.validate(i, c);
        if ((0, Either_1.isLeft)(e)) {
          return e;
        }
        var a = e.right;
        return predicate(a) ? (0, exports.success)(a) : (0, exports.failure)(a, c);
      }, codec.encode, codec, predicate);
    }
    exports.refinement = refinement;
    exports.Integer = refinement(exports.number, Number.isInteger, "Integer");
    var TaggedUnionType = (
      /** @class */
      (function(_super) {
        __extends(TaggedUnionType2, _super);
        function TaggedUnionType2(name, is2, validate, encode, codecs, tag) {
          var _this = _super.call(this, name, is2, validate, encode, codecs) || this;
          _this.tag = tag;
          return _this;
        }
        return TaggedUnionType2;
      })(UnionType)
    );
    exports.TaggedUnionType = TaggedUnionType;
    var taggedUnion = function(tag, codecs, name) {
      if (name === void 0) {
        name = getUnionName(codecs);
      }
      var U = union(codecs, name);
      if (U instanceof TaggedUnionType) {
        return U;
      } else {
        console.warn("[io-ts] Cannot build a tagged union for ".concat(name, ", returning a de-optimized union"));
        return new TaggedUnionType(name, U.is, U.validate, U.encode, codecs, tag);
      }
    };
    exports.taggedUnion = taggedUnion;
    var getValidationError = function(value, context) {
      return {
        value,
        context
      };
    };
    exports.getValidationError = getValidationError;
    var getDefaultContext = function(decoder) {
      return [
        { key: "", type: decoder }
      ];
    };
    exports.getDefaultContext = getDefaultContext;
    exports.Dictionary = exports.UnknownRecord;
    var ObjectType = (
      /** @class */
      (function(_super) {
        __extends(ObjectType2, _super);
        function ObjectType2() {
          var _this = _super.call(this, "object", function(u) {
            return u !== null && typeof u === "object";
          }, function(u, c) {
            return _this.is(u) ? (0, exports.success)(u) : (0, exports.failure)(u, c);
          }, exports.identity) || this;
          _this._tag = "ObjectType";
          return _this;
        }
        return ObjectType2;
      })(Type2)
    );
    exports.ObjectType = ObjectType;
    exports.object = new ObjectType();
    exports.dictionary = record;
    var StrictType = (
      /** @class */
      (function(_super) {
        __extends(StrictType2, _super);
        function StrictType2(name, is2, validate, encode, props) {
          var _this = _super.call(this, name, is2, validate, encode) || this;
          _this.props = props;
          _this._tag = "StrictType";
          return _this;
        }
        return StrictType2;
      })(Type2)
    );
    exports.StrictType = StrictType;
    function clean(codec) {
      return codec;
    }
    exports.clean = clean;
    function alias(codec) {
      return function() {
        return codec;
      };
    }
    exports.alias = alias;
  }
});

// src/mbt/sim.ts
var E34 = __toESM(require_Either(), 1);

// node_modules/xstate/dist/xstate-dev.esm.js
function getGlobal() {
  if (typeof globalThis !== "undefined") {
    return globalThis;
  }
  if (typeof self !== "undefined") {
    return self;
  }
  if (typeof window !== "undefined") {
    return window;
  }
  if (typeof global !== "undefined") {
    return global;
  }
}
function getDevTools() {
  const w = getGlobal();
  if (w.__xstate__) {
    return w.__xstate__;
  }
  return void 0;
}
var devToolsAdapter = (service) => {
  if (typeof window === "undefined") {
    return;
  }
  const devTools = getDevTools();
  if (devTools) {
    devTools.register(service);
  }
};

// node_modules/xstate/dist/raise-effbee0c.esm.js
var Mailbox = class {
  constructor(_process) {
    this._process = _process;
    this._active = false;
    this._current = null;
    this._last = null;
  }
  start() {
    this._active = true;
    this.flush();
  }
  clear() {
    if (this._current) {
      this._current.next = null;
      this._last = this._current;
    }
  }
  enqueue(event) {
    const enqueued = {
      value: event,
      next: null
    };
    if (this._current) {
      this._last.next = enqueued;
      this._last = enqueued;
      return;
    }
    this._current = enqueued;
    this._last = enqueued;
    if (this._active) {
      this.flush();
    }
  }
  flush() {
    while (this._current) {
      const consumed = this._current;
      this._process(consumed.value);
      this._current = consumed.next;
    }
    this._last = null;
  }
};
var STATE_DELIMITER = ".";
var TARGETLESS_KEY = "";
var NULL_EVENT = "";
var STATE_IDENTIFIER = "#";
var WILDCARD = "*";
var XSTATE_INIT = "xstate.init";
var XSTATE_ERROR = "xstate.error";
var XSTATE_STOP = "xstate.stop";
function createAfterEvent(delayRef, id) {
  return {
    type: `xstate.after.${delayRef}.${id}`
  };
}
function createDoneStateEvent(id, output) {
  return {
    type: `xstate.done.state.${id}`,
    output
  };
}
function createDoneActorEvent(invokeId, output) {
  return {
    type: `xstate.done.actor.${invokeId}`,
    output,
    actorId: invokeId
  };
}
function createErrorActorEvent(id, error) {
  return {
    type: `xstate.error.actor.${id}`,
    error,
    actorId: id
  };
}
function createInitEvent(input) {
  return {
    type: XSTATE_INIT,
    input
  };
}
function reportUnhandledError(err) {
  setTimeout(() => {
    throw err;
  });
}
var symbolObservable = (() => typeof Symbol === "function" && Symbol.observable || "@@observable")();
function matchesState(parentStateId, childStateId) {
  const parentStateValue = toStateValue(parentStateId);
  const childStateValue = toStateValue(childStateId);
  if (typeof childStateValue === "string") {
    if (typeof parentStateValue === "string") {
      return childStateValue === parentStateValue;
    }
    return false;
  }
  if (typeof parentStateValue === "string") {
    return parentStateValue in childStateValue;
  }
  return Object.keys(parentStateValue).every((key) => {
    if (!(key in childStateValue)) {
      return false;
    }
    return matchesState(parentStateValue[key], childStateValue[key]);
  });
}
function toStatePath(stateId) {
  if (isArray(stateId)) {
    return stateId;
  }
  const result = [];
  let segment = "";
  for (let i = 0; i < stateId.length; i++) {
    const char = stateId.charCodeAt(i);
    switch (char) {
      // \
      case 92:
        segment += stateId[i + 1];
        i++;
        continue;
      // .
      case 46:
        result.push(segment);
        segment = "";
        continue;
    }
    segment += stateId[i];
  }
  result.push(segment);
  return result;
}
function toStateValue(stateValue) {
  if (isMachineSnapshot(stateValue)) {
    return stateValue.value;
  }
  if (typeof stateValue !== "string") {
    return stateValue;
  }
  const statePath = toStatePath(stateValue);
  return pathToStateValue(statePath);
}
function pathToStateValue(statePath) {
  if (statePath.length === 1) {
    return statePath[0];
  }
  const value = {};
  let marker = value;
  for (let i = 0; i < statePath.length - 1; i++) {
    if (i === statePath.length - 2) {
      marker[statePath[i]] = statePath[i + 1];
    } else {
      const previous = marker;
      marker = {};
      previous[statePath[i]] = marker;
    }
  }
  return value;
}
function mapValues(collection, iteratee) {
  const result = {};
  const collectionKeys = Object.keys(collection);
  for (let i = 0; i < collectionKeys.length; i++) {
    const key = collectionKeys[i];
    result[key] = iteratee(collection[key], key, collection, i);
  }
  return result;
}
function toArrayStrict(value) {
  if (isArray(value)) {
    return value;
  }
  return [value];
}
function toArray(value) {
  if (value === void 0) {
    return [];
  }
  return toArrayStrict(value);
}
function resolveOutput(mapper, context, event, self2) {
  if (typeof mapper === "function") {
    return mapper({
      context,
      event,
      self: self2
    });
  }
  return mapper;
}
function isArray(value) {
  return Array.isArray(value);
}
function isErrorActorEvent(event) {
  return event.type.startsWith("xstate.error.actor");
}
function toTransitionConfigArray(configLike) {
  return toArrayStrict(configLike).map((transitionLike) => {
    if (typeof transitionLike === "undefined" || typeof transitionLike === "string") {
      return {
        target: transitionLike
      };
    }
    return transitionLike;
  });
}
function normalizeTarget(target) {
  if (target === void 0 || target === TARGETLESS_KEY) {
    return void 0;
  }
  return toArray(target);
}
function toObserver(nextHandler, errorHandler, completionHandler) {
  const isObserver = typeof nextHandler === "object";
  const self2 = isObserver ? nextHandler : void 0;
  return {
    next: (isObserver ? nextHandler.next : nextHandler)?.bind(self2),
    error: (isObserver ? nextHandler.error : errorHandler)?.bind(self2),
    complete: (isObserver ? nextHandler.complete : completionHandler)?.bind(self2)
  };
}
function createInvokeId(stateNodeId, index) {
  return `${index}.${stateNodeId}`;
}
function resolveReferencedActor(machine, src) {
  const match = src.match(/^xstate\.invoke\.(\d+)\.(.*)/);
  if (!match) {
    return machine.implementations.actors[src];
  }
  const [, indexStr, nodeId] = match;
  const node = machine.getStateNodeById(nodeId);
  const invokeConfig = node.config.invoke;
  return (Array.isArray(invokeConfig) ? invokeConfig[indexStr] : invokeConfig).src;
}
function matchesEventDescriptor(eventType, descriptor) {
  if (descriptor === eventType) {
    return true;
  }
  if (descriptor === WILDCARD) {
    return true;
  }
  if (!descriptor.endsWith(".*")) {
    return false;
  }
  const partialEventTokens = descriptor.split(".");
  const eventTokens = eventType.split(".");
  for (let tokenIndex = 0; tokenIndex < partialEventTokens.length; tokenIndex++) {
    const partialEventToken = partialEventTokens[tokenIndex];
    const eventToken = eventTokens[tokenIndex];
    if (partialEventToken === "*") {
      const isLastToken = tokenIndex === partialEventTokens.length - 1;
      return isLastToken;
    }
    if (partialEventToken !== eventToken) {
      return false;
    }
  }
  return true;
}
function createScheduledEventId(actorRef, id) {
  return `${actorRef.sessionId}.${id}`;
}
var idCounter = 0;
function createSystem(rootActor, options) {
  const children = /* @__PURE__ */ new Map();
  const keyedActors = /* @__PURE__ */ new Map();
  const reverseKeyedActors = /* @__PURE__ */ new WeakMap();
  const inspectionObservers = /* @__PURE__ */ new Set();
  const timerMap = {};
  const {
    clock,
    logger
  } = options;
  const scheduler = {
    schedule: (source, target, event, delay, id = Math.random().toString(36).slice(2)) => {
      const scheduledEvent = {
        source,
        target,
        event,
        delay,
        id,
        startedAt: Date.now()
      };
      const scheduledEventId = createScheduledEventId(source, id);
      system._snapshot._scheduledEvents[scheduledEventId] = scheduledEvent;
      const timeout = clock.setTimeout(() => {
        delete timerMap[scheduledEventId];
        delete system._snapshot._scheduledEvents[scheduledEventId];
        system._relay(source, target, event);
      }, delay);
      timerMap[scheduledEventId] = timeout;
    },
    cancel: (source, id) => {
      const scheduledEventId = createScheduledEventId(source, id);
      const timeout = timerMap[scheduledEventId];
      delete timerMap[scheduledEventId];
      delete system._snapshot._scheduledEvents[scheduledEventId];
      if (timeout !== void 0) {
        clock.clearTimeout(timeout);
      }
    },
    cancelAll: (actorRef) => {
      for (const scheduledEventId in system._snapshot._scheduledEvents) {
        const scheduledEvent = system._snapshot._scheduledEvents[scheduledEventId];
        if (scheduledEvent.source === actorRef) {
          scheduler.cancel(actorRef, scheduledEvent.id);
        }
      }
    }
  };
  const sendInspectionEvent = (event) => {
    if (!inspectionObservers.size) {
      return;
    }
    const resolvedInspectionEvent = {
      ...event,
      rootId: rootActor.sessionId
    };
    inspectionObservers.forEach((observer) => observer.next?.(resolvedInspectionEvent));
  };
  const system = {
    _snapshot: {
      _scheduledEvents: (options?.snapshot && options.snapshot.scheduler) ?? {}
    },
    _bookId: () => `x:${idCounter++}`,
    _register: (sessionId, actorRef) => {
      children.set(sessionId, actorRef);
      return sessionId;
    },
    _unregister: (actorRef) => {
      children.delete(actorRef.sessionId);
      const systemId = reverseKeyedActors.get(actorRef);
      if (systemId !== void 0) {
        keyedActors.delete(systemId);
        reverseKeyedActors.delete(actorRef);
      }
    },
    get: (systemId) => {
      return keyedActors.get(systemId);
    },
    getAll: () => {
      return Object.fromEntries(keyedActors.entries());
    },
    _set: (systemId, actorRef) => {
      const existing = keyedActors.get(systemId);
      if (existing && existing !== actorRef) {
        throw new Error(`Actor with system ID '${systemId}' already exists.`);
      }
      keyedActors.set(systemId, actorRef);
      reverseKeyedActors.set(actorRef, systemId);
    },
    inspect: (observerOrFn) => {
      const observer = toObserver(observerOrFn);
      inspectionObservers.add(observer);
      return {
        unsubscribe() {
          inspectionObservers.delete(observer);
        }
      };
    },
    _sendInspectionEvent: sendInspectionEvent,
    _relay: (source, target, event) => {
      system._sendInspectionEvent({
        type: "@xstate.event",
        sourceRef: source,
        actorRef: target,
        event
      });
      target._send(event);
    },
    scheduler,
    getSnapshot: () => {
      return {
        _scheduledEvents: {
          ...system._snapshot._scheduledEvents
        }
      };
    },
    start: () => {
      const scheduledEvents = system._snapshot._scheduledEvents;
      system._snapshot._scheduledEvents = {};
      for (const scheduledId in scheduledEvents) {
        const {
          source,
          target,
          event,
          delay,
          id
        } = scheduledEvents[scheduledId];
        scheduler.schedule(source, target, event, delay, id);
      }
    },
    _clock: clock,
    _logger: logger
  };
  return system;
}
var executingCustomAction = false;
var $$ACTOR_TYPE = 1;
var ProcessingStatus = /* @__PURE__ */ (function(ProcessingStatus2) {
  ProcessingStatus2[ProcessingStatus2["NotStarted"] = 0] = "NotStarted";
  ProcessingStatus2[ProcessingStatus2["Running"] = 1] = "Running";
  ProcessingStatus2[ProcessingStatus2["Stopped"] = 2] = "Stopped";
  return ProcessingStatus2;
})({});
var defaultOptions = {
  clock: {
    setTimeout: (fn, ms) => {
      return setTimeout(fn, ms);
    },
    clearTimeout: (id) => {
      return clearTimeout(id);
    }
  },
  logger: console.log.bind(console),
  devTools: false
};
var Actor = class {
  /**
   * Creates a new actor instance for the given logic with the provided options,
   * if any.
   *
   * @param logic The logic to create an actor from
   * @param options Actor options
   */
  constructor(logic, options) {
    this.logic = logic;
    this._snapshot = void 0;
    this.clock = void 0;
    this.options = void 0;
    this.id = void 0;
    this.mailbox = new Mailbox(this._process.bind(this));
    this.observers = /* @__PURE__ */ new Set();
    this.eventListeners = /* @__PURE__ */ new Map();
    this.logger = void 0;
    this._processingStatus = ProcessingStatus.NotStarted;
    this._parent = void 0;
    this._syncSnapshot = void 0;
    this.ref = void 0;
    this._actorScope = void 0;
    this.systemId = void 0;
    this.sessionId = void 0;
    this.system = void 0;
    this._doneEvent = void 0;
    this.src = void 0;
    this._deferred = [];
    const resolvedOptions = {
      ...defaultOptions,
      ...options
    };
    const {
      clock,
      logger,
      parent,
      syncSnapshot,
      id,
      systemId,
      inspect
    } = resolvedOptions;
    this.system = parent ? parent.system : createSystem(this, {
      clock,
      logger
    });
    if (inspect && !parent) {
      this.system.inspect(toObserver(inspect));
    }
    this.sessionId = this.system._bookId();
    this.id = id ?? this.sessionId;
    this.logger = options?.logger ?? this.system._logger;
    this.clock = options?.clock ?? this.system._clock;
    this._parent = parent;
    this._syncSnapshot = syncSnapshot;
    this.options = resolvedOptions;
    this.src = resolvedOptions.src ?? logic;
    this.ref = this;
    this._actorScope = {
      self: this,
      id: this.id,
      sessionId: this.sessionId,
      logger: this.logger,
      defer: (fn) => {
        this._deferred.push(fn);
      },
      system: this.system,
      stopChild: (child) => {
        if (child._parent !== this) {
          throw new Error(`Cannot stop child actor ${child.id} of ${this.id} because it is not a child`);
        }
        child._stop();
      },
      emit: (emittedEvent) => {
        const listeners = this.eventListeners.get(emittedEvent.type);
        const wildcardListener = this.eventListeners.get("*");
        if (!listeners && !wildcardListener) {
          return;
        }
        const allListeners = [...listeners ? listeners.values() : [], ...wildcardListener ? wildcardListener.values() : []];
        for (const handler of allListeners) {
          try {
            handler(emittedEvent);
          } catch (err) {
            reportUnhandledError(err);
          }
        }
      },
      actionExecutor: (action) => {
        const exec = () => {
          this._actorScope.system._sendInspectionEvent({
            type: "@xstate.action",
            actorRef: this,
            action: {
              type: action.type,
              params: action.params
            }
          });
          if (!action.exec) {
            return;
          }
          const saveExecutingCustomAction = executingCustomAction;
          try {
            executingCustomAction = true;
            action.exec(action.info, action.params);
          } finally {
            executingCustomAction = saveExecutingCustomAction;
          }
        };
        if (this._processingStatus === ProcessingStatus.Running) {
          exec();
        } else {
          this._deferred.push(exec);
        }
      }
    };
    this.send = this.send.bind(this);
    this.system._sendInspectionEvent({
      type: "@xstate.actor",
      actorRef: this
    });
    if (systemId) {
      this.systemId = systemId;
      this.system._set(systemId, this);
    }
    this._initState(options?.snapshot ?? options?.state);
    if (systemId && this._snapshot.status !== "active") {
      this.system._unregister(this);
    }
  }
  _initState(persistedState) {
    try {
      this._snapshot = persistedState ? this.logic.restoreSnapshot ? this.logic.restoreSnapshot(persistedState, this._actorScope) : persistedState : this.logic.getInitialSnapshot(this._actorScope, this.options?.input);
    } catch (err) {
      this._snapshot = {
        status: "error",
        output: void 0,
        error: err
      };
    }
  }
  update(snapshot, event) {
    this._snapshot = snapshot;
    let deferredFn;
    while (deferredFn = this._deferred.shift()) {
      try {
        deferredFn();
      } catch (err) {
        this._deferred.length = 0;
        this._snapshot = {
          ...snapshot,
          status: "error",
          error: err
        };
      }
    }
    switch (this._snapshot.status) {
      case "active":
        for (const observer of this.observers) {
          try {
            observer.next?.(snapshot);
          } catch (err) {
            reportUnhandledError(err);
          }
        }
        break;
      case "done":
        for (const observer of this.observers) {
          try {
            observer.next?.(snapshot);
          } catch (err) {
            reportUnhandledError(err);
          }
        }
        this._stopProcedure();
        this._complete();
        this._doneEvent = createDoneActorEvent(this.id, this._snapshot.output);
        if (this._parent) {
          this.system._relay(this, this._parent, this._doneEvent);
        }
        break;
      case "error":
        this._error(this._snapshot.error);
        break;
    }
    this.system._sendInspectionEvent({
      type: "@xstate.snapshot",
      actorRef: this,
      event,
      snapshot
    });
  }
  /**
   * Subscribe an observer to an actor’s snapshot values.
   *
   * @remarks
   * The observer will receive the actor’s snapshot value when it is emitted.
   * The observer can be:
   *
   * - A plain function that receives the latest snapshot, or
   * - An observer object whose `.next(snapshot)` method receives the latest
   *   snapshot
   *
   * @example
   *
   * ```ts
   * // Observer as a plain function
   * const subscription = actor.subscribe((snapshot) => {
   *   console.log(snapshot);
   * });
   * ```
   *
   * @example
   *
   * ```ts
   * // Observer as an object
   * const subscription = actor.subscribe({
   *   next(snapshot) {
   *     console.log(snapshot);
   *   },
   *   error(err) {
   *     // ...
   *   },
   *   complete() {
   *     // ...
   *   }
   * });
   * ```
   *
   * The return value of `actor.subscribe(observer)` is a subscription object
   * that has an `.unsubscribe()` method. You can call
   * `subscription.unsubscribe()` to unsubscribe the observer:
   *
   * @example
   *
   * ```ts
   * const subscription = actor.subscribe((snapshot) => {
   *   // ...
   * });
   *
   * // Unsubscribe the observer
   * subscription.unsubscribe();
   * ```
   *
   * When the actor is stopped, all of its observers will automatically be
   * unsubscribed.
   *
   * @param observer - Either a plain function that receives the latest
   *   snapshot, or an observer object whose `.next(snapshot)` method receives
   *   the latest snapshot
   */
  subscribe(nextListenerOrObserver, errorListener, completeListener) {
    const observer = toObserver(nextListenerOrObserver, errorListener, completeListener);
    if (this._processingStatus !== ProcessingStatus.Stopped) {
      this.observers.add(observer);
    } else {
      switch (this._snapshot.status) {
        case "done":
          try {
            observer.complete?.();
          } catch (err) {
            reportUnhandledError(err);
          }
          break;
        case "error": {
          const err = this._snapshot.error;
          if (!observer.error) {
            reportUnhandledError(err);
          } else {
            try {
              observer.error(err);
            } catch (err2) {
              reportUnhandledError(err2);
            }
          }
          break;
        }
      }
    }
    return {
      unsubscribe: () => {
        this.observers.delete(observer);
      }
    };
  }
  on(type2, handler) {
    let listeners = this.eventListeners.get(type2);
    if (!listeners) {
      listeners = /* @__PURE__ */ new Set();
      this.eventListeners.set(type2, listeners);
    }
    const wrappedHandler = handler.bind(void 0);
    listeners.add(wrappedHandler);
    return {
      unsubscribe: () => {
        listeners.delete(wrappedHandler);
      }
    };
  }
  select(selector, equalityFn = Object.is) {
    return {
      subscribe: (observerOrFn) => {
        const observer = toObserver(observerOrFn);
        const snapshot = this.getSnapshot();
        let previousSelected = selector(snapshot);
        return this.subscribe((snapshot2) => {
          const nextSelected = selector(snapshot2);
          if (!equalityFn(previousSelected, nextSelected)) {
            previousSelected = nextSelected;
            observer.next?.(nextSelected);
          }
        });
      },
      get: () => selector(this.getSnapshot())
    };
  }
  /** Starts the Actor from the initial state */
  start() {
    if (this._processingStatus === ProcessingStatus.Running) {
      return this;
    }
    if (this._syncSnapshot) {
      this.subscribe({
        next: (snapshot) => {
          if (snapshot.status === "active") {
            this.system._relay(this, this._parent, {
              type: `xstate.snapshot.${this.id}`,
              snapshot
            });
          }
        },
        error: () => {
        }
      });
    }
    this.system._register(this.sessionId, this);
    if (this.systemId) {
      this.system._set(this.systemId, this);
    }
    this._processingStatus = ProcessingStatus.Running;
    const initEvent = createInitEvent(this.options.input);
    this.system._sendInspectionEvent({
      type: "@xstate.event",
      sourceRef: this._parent,
      actorRef: this,
      event: initEvent
    });
    const status = this._snapshot.status;
    switch (status) {
      case "done":
        this.update(this._snapshot, initEvent);
        return this;
      case "error":
        this._error(this._snapshot.error);
        return this;
    }
    if (!this._parent) {
      this.system.start();
    }
    if (this.logic.start) {
      try {
        this.logic.start(this._snapshot, this._actorScope);
      } catch (err) {
        this._snapshot = {
          ...this._snapshot,
          status: "error",
          error: err
        };
        this._error(err);
        return this;
      }
    }
    this.update(this._snapshot, initEvent);
    if (this.options.devTools) {
      this.attachDevTools();
    }
    this.mailbox.start();
    return this;
  }
  _process(event) {
    let nextState;
    let caughtError;
    try {
      nextState = this.logic.transition(this._snapshot, event, this._actorScope);
    } catch (err) {
      caughtError = {
        err
      };
    }
    if (caughtError) {
      const {
        err
      } = caughtError;
      this._snapshot = {
        ...this._snapshot,
        status: "error",
        error: err
      };
      this._error(err);
      return;
    }
    this.update(nextState, event);
    if (event.type === XSTATE_STOP) {
      this._stopProcedure();
      this._complete();
    }
  }
  _stop() {
    if (this._processingStatus === ProcessingStatus.Stopped) {
      return this;
    }
    this.mailbox.clear();
    if (this._processingStatus === ProcessingStatus.NotStarted) {
      this._processingStatus = ProcessingStatus.Stopped;
      return this;
    }
    this.mailbox.enqueue({
      type: XSTATE_STOP
    });
    return this;
  }
  /** Stops the Actor and unsubscribe all listeners. */
  stop() {
    if (this._parent) {
      throw new Error("A non-root actor cannot be stopped directly.");
    }
    return this._stop();
  }
  _complete() {
    for (const observer of this.observers) {
      try {
        observer.complete?.();
      } catch (err) {
        reportUnhandledError(err);
      }
    }
    this.observers.clear();
    this.eventListeners.clear();
  }
  _reportError(err) {
    if (!this.observers.size) {
      if (!this._parent) {
        reportUnhandledError(err);
      }
      this.eventListeners.clear();
      return;
    }
    let reportError = false;
    for (const observer of this.observers) {
      const errorListener = observer.error;
      reportError ||= !errorListener;
      try {
        errorListener?.(err);
      } catch (err2) {
        reportUnhandledError(err2);
      }
    }
    this.observers.clear();
    this.eventListeners.clear();
    if (reportError) {
      reportUnhandledError(err);
    }
  }
  _error(err) {
    this._stopProcedure();
    this._reportError(err);
    if (this._parent) {
      this.system._relay(this, this._parent, createErrorActorEvent(this.id, err));
    }
  }
  // TODO: atm children don't belong entirely to the actor so
  // in a way - it's not even super aware of them
  // so we can't stop them from here but we really should!
  // right now, they are being stopped within the machine's transition
  // but that could throw and leave us with "orphaned" active actors
  _stopProcedure() {
    if (this._processingStatus !== ProcessingStatus.Running) {
      return this;
    }
    this.system.scheduler.cancelAll(this);
    this.mailbox.clear();
    this.mailbox = new Mailbox(this._process.bind(this));
    this._processingStatus = ProcessingStatus.Stopped;
    this.system._unregister(this);
    return this;
  }
  /** @internal */
  _send(event) {
    if (this._processingStatus === ProcessingStatus.Stopped) {
      return;
    }
    this.mailbox.enqueue(event);
  }
  /**
   * Sends an event to the running Actor to trigger a transition.
   *
   * @param event The event to send
   */
  send(event) {
    this.system._relay(void 0, this, event);
  }
  attachDevTools() {
    const {
      devTools
    } = this.options;
    if (devTools) {
      const resolvedDevToolsAdapter = typeof devTools === "function" ? devTools : devToolsAdapter;
      resolvedDevToolsAdapter(this);
    }
  }
  toJSON() {
    return {
      xstate$$type: $$ACTOR_TYPE,
      id: this.id
    };
  }
  /**
   * Obtain the internal state of the actor, which can be persisted.
   *
   * @remarks
   * The internal state can be persisted from any actor, not only machines.
   *
   * Note that the persisted state is not the same as the snapshot from
   * {@link Actor.getSnapshot}. Persisted state represents the internal state of
   * the actor, while snapshots represent the actor's last emitted value.
   *
   * Can be restored with {@link ActorOptions.state}
   * @see https://stately.ai/docs/persistence
   */
  getPersistedSnapshot(options) {
    return this.logic.getPersistedSnapshot(this._snapshot, options);
  }
  [symbolObservable]() {
    return this;
  }
  /**
   * Read an actor’s snapshot synchronously.
   *
   * @remarks
   * The snapshot represent an actor's last emitted value.
   *
   * When an actor receives an event, its internal state may change. An actor
   * may emit a snapshot when a state transition occurs.
   *
   * Note that some actors, such as callback actors generated with
   * `fromCallback`, will not emit snapshots.
   * @see {@link Actor.subscribe} to subscribe to an actor’s snapshot values.
   * @see {@link Actor.getPersistedSnapshot} to persist the internal state of an actor (which is more than just a snapshot).
   */
  getSnapshot() {
    return this._snapshot;
  }
};
function createActor(logic, ...[options]) {
  return new Actor(logic, options);
}
function resolveCancel(_, snapshot, actionArgs, actionParams, {
  sendId
}) {
  const resolvedSendId = typeof sendId === "function" ? sendId(actionArgs, actionParams) : sendId;
  return [snapshot, {
    sendId: resolvedSendId
  }, void 0];
}
function executeCancel(actorScope, params) {
  actorScope.defer(() => {
    actorScope.system.scheduler.cancel(actorScope.self, params.sendId);
  });
}
function cancel(sendId) {
  function cancel2(_args, _params) {
  }
  cancel2.type = "xstate.cancel";
  cancel2.sendId = sendId;
  cancel2.resolve = resolveCancel;
  cancel2.execute = executeCancel;
  return cancel2;
}
function resolveSpawn(actorScope, snapshot, actionArgs, _actionParams, {
  id,
  systemId,
  src,
  input,
  syncSnapshot
}) {
  const logic = typeof src === "string" ? resolveReferencedActor(snapshot.machine, src) : src;
  const resolvedId = typeof id === "function" ? id(actionArgs) : id;
  let actorRef;
  let resolvedInput = void 0;
  if (logic) {
    resolvedInput = typeof input === "function" ? input({
      context: snapshot.context,
      event: actionArgs.event,
      self: actorScope.self
    }) : input;
    actorRef = createActor(logic, {
      id: resolvedId,
      src,
      parent: actorScope.self,
      syncSnapshot,
      systemId,
      input: resolvedInput
    });
  }
  return [cloneMachineSnapshot(snapshot, {
    children: {
      ...snapshot.children,
      [resolvedId]: actorRef
    }
  }), {
    id,
    systemId,
    actorRef,
    src,
    input: resolvedInput
  }, void 0];
}
function executeSpawn(actorScope, {
  actorRef
}) {
  if (!actorRef) {
    return;
  }
  actorScope.defer(() => {
    if (actorRef._processingStatus === ProcessingStatus.Stopped) {
      return;
    }
    actorRef.start();
  });
}
function spawnChild(...[src, {
  id,
  systemId,
  input,
  syncSnapshot = false
} = {}]) {
  function spawnChild2(_args, _params) {
  }
  spawnChild2.type = "xstate.spawnChild";
  spawnChild2.id = id;
  spawnChild2.systemId = systemId;
  spawnChild2.src = src;
  spawnChild2.input = input;
  spawnChild2.syncSnapshot = syncSnapshot;
  spawnChild2.resolve = resolveSpawn;
  spawnChild2.execute = executeSpawn;
  return spawnChild2;
}
function resolveStop(_, snapshot, args, actionParams, {
  actorRef
}) {
  const actorRefOrString = typeof actorRef === "function" ? actorRef(args, actionParams) : actorRef;
  const resolvedActorRef = typeof actorRefOrString === "string" ? snapshot.children[actorRefOrString] : actorRefOrString;
  let children = snapshot.children;
  if (resolvedActorRef) {
    children = {
      ...children
    };
    delete children[resolvedActorRef.id];
  }
  return [cloneMachineSnapshot(snapshot, {
    children
  }), resolvedActorRef, void 0];
}
function unregisterRecursively(actorScope, actorRef) {
  const snapshot = actorRef.getSnapshot();
  if (snapshot && "children" in snapshot) {
    for (const child of Object.values(snapshot.children)) {
      unregisterRecursively(actorScope, child);
    }
  }
  actorScope.system._unregister(actorRef);
}
function executeStop(actorScope, actorRef) {
  if (!actorRef) {
    return;
  }
  unregisterRecursively(actorScope, actorRef);
  if (actorRef._processingStatus !== ProcessingStatus.Running) {
    actorScope.stopChild(actorRef);
    return;
  }
  actorScope.defer(() => {
    actorScope.stopChild(actorRef);
  });
}
function stopChild(actorRef) {
  function stop2(_args, _params) {
  }
  stop2.type = "xstate.stopChild";
  stop2.actorRef = actorRef;
  stop2.resolve = resolveStop;
  stop2.execute = executeStop;
  return stop2;
}
function checkAnd(snapshot, {
  context,
  event
}, {
  guards
}) {
  return guards.every((guard) => evaluateGuard(guard, context, event, snapshot));
}
function and(guards) {
  function and2(_args, _params) {
    return false;
  }
  and2.check = checkAnd;
  and2.guards = guards;
  return and2;
}
function evaluateGuard(guard, context, event, snapshot) {
  const {
    machine
  } = snapshot;
  const isInline = typeof guard === "function";
  const resolved = isInline ? guard : machine.implementations.guards[typeof guard === "string" ? guard : guard.type];
  if (!isInline && !resolved) {
    throw new Error(`Guard '${typeof guard === "string" ? guard : guard.type}' is not implemented.'.`);
  }
  if (typeof resolved !== "function") {
    return evaluateGuard(resolved, context, event, snapshot);
  }
  const guardArgs = {
    context,
    event
  };
  const guardParams = isInline || typeof guard === "string" ? void 0 : "params" in guard ? typeof guard.params === "function" ? guard.params({
    context,
    event
  }) : guard.params : void 0;
  if (!("check" in resolved)) {
    return resolved(guardArgs, guardParams);
  }
  const builtinGuard = resolved;
  return builtinGuard.check(
    snapshot,
    guardArgs,
    resolved
    // this holds all params
  );
}
function isAtomicStateNode(stateNode) {
  return stateNode.type === "atomic" || stateNode.type === "final";
}
function getChildren(stateNode) {
  return Object.values(stateNode.states).filter((sn) => sn.type !== "history");
}
function getProperAncestors(stateNode, toStateNode) {
  const ancestors = [];
  if (toStateNode === stateNode) {
    return ancestors;
  }
  let m = stateNode.parent;
  while (m && m !== toStateNode) {
    ancestors.push(m);
    m = m.parent;
  }
  return ancestors;
}
function getAllStateNodes(stateNodes) {
  const nodeSet = new Set(stateNodes);
  const adjList = getAdjList(nodeSet);
  for (const s of nodeSet) {
    if (s.type === "compound" && (!adjList.get(s) || !adjList.get(s).length)) {
      getInitialStateNodesWithTheirAncestors(s).forEach((sn) => nodeSet.add(sn));
    } else {
      if (s.type === "parallel") {
        for (const child of getChildren(s)) {
          if (child.type === "history") {
            continue;
          }
          if (!nodeSet.has(child)) {
            const initialStates = getInitialStateNodesWithTheirAncestors(child);
            for (const initialStateNode of initialStates) {
              nodeSet.add(initialStateNode);
            }
          }
        }
      }
    }
  }
  for (const s of nodeSet) {
    let m = s.parent;
    while (m) {
      nodeSet.add(m);
      m = m.parent;
    }
  }
  return nodeSet;
}
function getValueFromAdj(baseNode, adjList) {
  const childStateNodes = adjList.get(baseNode);
  if (!childStateNodes) {
    return {};
  }
  if (baseNode.type === "compound") {
    const childStateNode = childStateNodes[0];
    if (childStateNode) {
      if (isAtomicStateNode(childStateNode)) {
        return childStateNode.key;
      }
    } else {
      return {};
    }
  }
  const stateValue = {};
  for (const childStateNode of childStateNodes) {
    stateValue[childStateNode.key] = getValueFromAdj(childStateNode, adjList);
  }
  return stateValue;
}
function getAdjList(stateNodes) {
  const adjList = /* @__PURE__ */ new Map();
  for (const s of stateNodes) {
    if (!adjList.has(s)) {
      adjList.set(s, []);
    }
    if (s.parent) {
      if (!adjList.has(s.parent)) {
        adjList.set(s.parent, []);
      }
      adjList.get(s.parent).push(s);
    }
  }
  return adjList;
}
function getStateValue(rootNode, stateNodes) {
  const config = getAllStateNodes(stateNodes);
  return getValueFromAdj(rootNode, getAdjList(config));
}
function isInFinalState(stateNodeSet, stateNode) {
  if (stateNode.type === "compound") {
    return getChildren(stateNode).some((s) => s.type === "final" && stateNodeSet.has(s));
  }
  if (stateNode.type === "parallel") {
    return getChildren(stateNode).every((sn) => isInFinalState(stateNodeSet, sn));
  }
  return stateNode.type === "final";
}
var isStateId = (str) => str[0] === STATE_IDENTIFIER;
function getCandidates(stateNode, receivedEventType) {
  const exactMatch = stateNode.transitions.get(receivedEventType);
  const wildcardCandidates = [...stateNode.transitions.keys()].filter((eventDescriptor) => eventDescriptor !== receivedEventType && matchesEventDescriptor(receivedEventType, eventDescriptor)).sort((a, b) => b.length - a.length).flatMap((key) => stateNode.transitions.get(key));
  return exactMatch ? [...exactMatch, ...wildcardCandidates] : wildcardCandidates;
}
function getDelayedTransitions(stateNode) {
  const afterConfig = stateNode.config.after;
  if (!afterConfig) {
    return [];
  }
  const mutateEntryExit = (delay) => {
    const afterEvent = createAfterEvent(delay, stateNode.id);
    const eventType = afterEvent.type;
    stateNode.entry.push(raise(afterEvent, {
      id: eventType,
      delay
    }));
    stateNode.exit.push(cancel(eventType));
    return eventType;
  };
  const delayedTransitions = Object.keys(afterConfig).flatMap((delay) => {
    const configTransition = afterConfig[delay];
    const resolvedTransition = typeof configTransition === "string" ? {
      target: configTransition
    } : configTransition;
    const resolvedDelay = Number.isNaN(+delay) ? delay : +delay;
    const eventType = mutateEntryExit(resolvedDelay);
    return toArray(resolvedTransition).map((transition) => ({
      ...transition,
      event: eventType,
      delay: resolvedDelay
    }));
  });
  return delayedTransitions.map((delayedTransition) => {
    const {
      delay
    } = delayedTransition;
    return {
      ...formatTransition(stateNode, delayedTransition.event, delayedTransition),
      delay
    };
  });
}
function formatTransition(stateNode, descriptor, transitionConfig) {
  const normalizedTarget = normalizeTarget(transitionConfig.target);
  const reenter = transitionConfig.reenter ?? false;
  const target = resolveTarget(stateNode, normalizedTarget);
  const transition = {
    ...transitionConfig,
    actions: toArray(transitionConfig.actions),
    guard: transitionConfig.guard,
    target,
    source: stateNode,
    reenter,
    eventType: descriptor,
    toJSON: () => ({
      ...transition,
      source: `#${stateNode.id}`,
      target: target ? target.map((t5) => `#${t5.id}`) : void 0
    })
  };
  return transition;
}
function formatTransitions(stateNode) {
  const transitions = /* @__PURE__ */ new Map();
  if (stateNode.config.on) {
    for (const descriptor of Object.keys(stateNode.config.on)) {
      if (descriptor === NULL_EVENT) {
        throw new Error('Null events ("") cannot be specified as a transition key. Use `always: { ... }` instead.');
      }
      const transitionsConfig = stateNode.config.on[descriptor];
      transitions.set(descriptor, toTransitionConfigArray(transitionsConfig).map((t5) => formatTransition(stateNode, descriptor, t5)));
    }
  }
  if (stateNode.config.onDone) {
    const descriptor = `xstate.done.state.${stateNode.id}`;
    transitions.set(descriptor, toTransitionConfigArray(stateNode.config.onDone).map((t5) => formatTransition(stateNode, descriptor, t5)));
  }
  for (const invokeDef of stateNode.invoke) {
    if (invokeDef.onDone) {
      const descriptor = `xstate.done.actor.${invokeDef.id}`;
      transitions.set(descriptor, toTransitionConfigArray(invokeDef.onDone).map((t5) => formatTransition(stateNode, descriptor, t5)));
    }
    if (invokeDef.onError) {
      const descriptor = `xstate.error.actor.${invokeDef.id}`;
      transitions.set(descriptor, toTransitionConfigArray(invokeDef.onError).map((t5) => formatTransition(stateNode, descriptor, t5)));
    }
    if (invokeDef.onSnapshot) {
      const descriptor = `xstate.snapshot.${invokeDef.id}`;
      transitions.set(descriptor, toTransitionConfigArray(invokeDef.onSnapshot).map((t5) => formatTransition(stateNode, descriptor, t5)));
    }
  }
  for (const delayedTransition of stateNode.after) {
    let existing = transitions.get(delayedTransition.eventType);
    if (!existing) {
      existing = [];
      transitions.set(delayedTransition.eventType, existing);
    }
    existing.push(delayedTransition);
  }
  return transitions;
}
function formatRouteTransitions(rootStateNode) {
  const routeTransitions = [];
  const collectRoutes = (states) => {
    Object.values(states).forEach((sn) => {
      if (sn.config.route && sn.config.id) {
        const routeId = sn.config.id;
        const userGuard = sn.config.route.guard;
        const routeMatches = ({
          event
        }) => event.to === `#${routeId}`;
        const transition = {
          ...sn.config.route,
          guard: userGuard ? and([routeMatches, userGuard]) : routeMatches,
          target: `#${routeId}`
        };
        routeTransitions.push(formatTransition(rootStateNode, "xstate.route", transition));
      }
      if (sn.states) {
        collectRoutes(sn.states);
      }
    });
  };
  collectRoutes(rootStateNode.states);
  if (routeTransitions.length > 0) {
    rootStateNode.transitions.set("xstate.route", routeTransitions);
  }
}
function formatInitialTransition(stateNode, _target) {
  const resolvedTarget = typeof _target === "string" ? stateNode.states[_target] : _target ? stateNode.states[_target.target] : void 0;
  if (!resolvedTarget && _target) {
    throw new Error(
      // oxlint-disable-next-line typescript/restrict-template-expressions, typescript/no-base-to-string
      `Initial state node "${_target}" not found on parent state node #${stateNode.id}`
    );
  }
  const transition = {
    source: stateNode,
    actions: !_target || typeof _target === "string" ? [] : toArray(_target.actions),
    eventType: null,
    reenter: false,
    target: resolvedTarget ? [resolvedTarget] : [],
    meta: typeof _target === "object" ? _target.meta : void 0,
    description: typeof _target === "object" ? _target.description : void 0,
    toJSON: () => ({
      ...transition,
      source: `#${stateNode.id}`,
      target: resolvedTarget ? [`#${resolvedTarget.id}`] : []
    })
  };
  return transition;
}
function resolveTarget(stateNode, targets) {
  if (targets === void 0) {
    return void 0;
  }
  return targets.map((target) => {
    if (typeof target !== "string") {
      return target;
    }
    if (isStateId(target)) {
      return stateNode.machine.getStateNodeById(target);
    }
    const isInternalTarget = target[0] === STATE_DELIMITER;
    if (isInternalTarget && !stateNode.parent) {
      return getStateNodeByPath(stateNode, target.slice(1));
    }
    const resolvedTarget = isInternalTarget ? stateNode.key + target : target;
    if (stateNode.parent) {
      try {
        const targetStateNode = getStateNodeByPath(stateNode.parent, resolvedTarget);
        return targetStateNode;
      } catch (err) {
        throw new Error(`Invalid transition definition for state node '${stateNode.id}':
${err.message}`);
      }
    } else {
      throw new Error(`Invalid target: "${target}" is not a valid target from the root node. Did you mean ".${target}"?`);
    }
  });
}
function resolveHistoryDefaultTransition(stateNode) {
  const normalizedTarget = normalizeTarget(stateNode.config.target);
  if (!normalizedTarget) {
    if (stateNode.parent.type === "parallel") {
      return {
        target: [stateNode.parent]
      };
    }
    return stateNode.parent.initial;
  }
  return {
    target: normalizedTarget.map((t5) => typeof t5 === "string" ? getStateNodeByPath(stateNode.parent, t5) : t5)
  };
}
function isHistoryNode(stateNode) {
  return stateNode.type === "history";
}
function getInitialStateNodesWithTheirAncestors(stateNode) {
  const states = getInitialStateNodes(stateNode);
  for (const initialState of states) {
    for (const ancestor of getProperAncestors(initialState, stateNode)) {
      states.add(ancestor);
    }
  }
  return states;
}
function getInitialStateNodes(stateNode) {
  const set2 = /* @__PURE__ */ new Set();
  function iter(descStateNode) {
    if (set2.has(descStateNode)) {
      return;
    }
    set2.add(descStateNode);
    if (descStateNode.type === "compound") {
      iter(descStateNode.initial.target[0]);
    } else if (descStateNode.type === "parallel") {
      for (const child of getChildren(descStateNode)) {
        iter(child);
      }
    }
  }
  iter(stateNode);
  return set2;
}
function getStateNode(stateNode, stateKey) {
  if (isStateId(stateKey)) {
    return stateNode.machine.getStateNodeById(stateKey);
  }
  if (!stateNode.states) {
    throw new Error(`Unable to retrieve child state '${stateKey}' from '${stateNode.id}'; no child states exist.`);
  }
  const result = stateNode.states[stateKey];
  if (!result) {
    throw new Error(`Child state '${stateKey}' does not exist on '${stateNode.id}'`);
  }
  return result;
}
function getStateNodeByPath(stateNode, statePath) {
  if (typeof statePath === "string" && isStateId(statePath)) {
    try {
      return stateNode.machine.getStateNodeById(statePath);
    } catch {
    }
  }
  const arrayStatePath = toStatePath(statePath).slice();
  let currentStateNode = stateNode;
  while (arrayStatePath.length) {
    const key = arrayStatePath.shift();
    if (!key.length) {
      break;
    }
    currentStateNode = getStateNode(currentStateNode, key);
  }
  return currentStateNode;
}
function getStateNodes(stateNode, stateValue) {
  if (typeof stateValue === "string") {
    const childStateNode = stateNode.states[stateValue];
    if (!childStateNode) {
      throw new Error(`State '${stateValue}' does not exist on '${stateNode.id}'`);
    }
    return [stateNode, childStateNode];
  }
  const childStateKeys = Object.keys(stateValue);
  const childStateNodes = childStateKeys.map((subStateKey) => getStateNode(stateNode, subStateKey)).filter(Boolean);
  return [stateNode.machine.root, stateNode].concat(childStateNodes, childStateKeys.reduce((allSubStateNodes, subStateKey) => {
    const subStateNode = getStateNode(stateNode, subStateKey);
    if (!subStateNode) {
      return allSubStateNodes;
    }
    const subStateNodes = getStateNodes(subStateNode, stateValue[subStateKey]);
    return allSubStateNodes.concat(subStateNodes);
  }, []));
}
function transitionAtomicNode(stateNode, stateValue, snapshot, event) {
  const childStateNode = getStateNode(stateNode, stateValue);
  const next = childStateNode.next(snapshot, event);
  if (!next || !next.length) {
    return stateNode.next(snapshot, event);
  }
  return next;
}
function transitionCompoundNode(stateNode, stateValue, snapshot, event) {
  const subStateKeys = Object.keys(stateValue);
  const childStateNode = getStateNode(stateNode, subStateKeys[0]);
  const next = transitionNode(childStateNode, stateValue[subStateKeys[0]], snapshot, event);
  if (!next || !next.length) {
    return stateNode.next(snapshot, event);
  }
  return next;
}
function transitionParallelNode(stateNode, stateValue, snapshot, event) {
  const allInnerTransitions = [];
  for (const subStateKey of Object.keys(stateValue)) {
    const subStateValue = stateValue[subStateKey];
    if (!subStateValue) {
      continue;
    }
    const subStateNode = getStateNode(stateNode, subStateKey);
    const innerTransitions = transitionNode(subStateNode, subStateValue, snapshot, event);
    if (innerTransitions) {
      allInnerTransitions.push(...innerTransitions);
    }
  }
  if (!allInnerTransitions.length) {
    return stateNode.next(snapshot, event);
  }
  return allInnerTransitions;
}
function transitionNode(stateNode, stateValue, snapshot, event) {
  if (typeof stateValue === "string") {
    return transitionAtomicNode(stateNode, stateValue, snapshot, event);
  }
  if (Object.keys(stateValue).length === 1) {
    return transitionCompoundNode(stateNode, stateValue, snapshot, event);
  }
  return transitionParallelNode(stateNode, stateValue, snapshot, event);
}
function getHistoryNodes(stateNode) {
  return Object.keys(stateNode.states).map((key) => stateNode.states[key]).filter((sn) => sn.type === "history");
}
function isDescendant(childStateNode, parentStateNode) {
  let marker = childStateNode;
  while (marker.parent && marker.parent !== parentStateNode) {
    marker = marker.parent;
  }
  return marker.parent === parentStateNode;
}
function hasIntersection(s1, s2) {
  const set1 = new Set(s1);
  const set2 = new Set(s2);
  for (const item of set1) {
    if (set2.has(item)) {
      return true;
    }
  }
  for (const item of set2) {
    if (set1.has(item)) {
      return true;
    }
  }
  return false;
}
function removeConflictingTransitions(enabledTransitions, stateNodeSet, historyValue) {
  const filteredTransitions = /* @__PURE__ */ new Set();
  for (const t1 of enabledTransitions) {
    let t1Preempted = false;
    const transitionsToRemove = /* @__PURE__ */ new Set();
    for (const t22 of filteredTransitions) {
      if (hasIntersection(computeExitSet([t1], stateNodeSet, historyValue), computeExitSet([t22], stateNodeSet, historyValue))) {
        if (isDescendant(t1.source, t22.source)) {
          transitionsToRemove.add(t22);
        } else {
          t1Preempted = true;
          break;
        }
      }
    }
    if (!t1Preempted) {
      for (const t32 of transitionsToRemove) {
        filteredTransitions.delete(t32);
      }
      filteredTransitions.add(t1);
    }
  }
  return Array.from(filteredTransitions);
}
function findLeastCommonAncestor(stateNodes) {
  const [head, ...tail] = stateNodes;
  for (const ancestor of getProperAncestors(head, void 0)) {
    if (tail.every((sn) => isDescendant(sn, ancestor))) {
      return ancestor;
    }
  }
}
function getEffectiveTargetStates(transition, historyValue) {
  if (!transition.target) {
    return [];
  }
  const targets = /* @__PURE__ */ new Set();
  for (const targetNode of transition.target) {
    if (isHistoryNode(targetNode)) {
      if (historyValue[targetNode.id]) {
        for (const node of historyValue[targetNode.id]) {
          targets.add(node);
        }
      } else {
        for (const node of getEffectiveTargetStates(resolveHistoryDefaultTransition(targetNode), historyValue)) {
          targets.add(node);
        }
      }
    } else {
      targets.add(targetNode);
    }
  }
  return [...targets];
}
function getTransitionDomain(transition, historyValue) {
  const targetStates = getEffectiveTargetStates(transition, historyValue);
  if (!targetStates) {
    return;
  }
  if (!transition.reenter && targetStates.every((target) => target === transition.source || isDescendant(target, transition.source))) {
    return transition.source;
  }
  const lca = findLeastCommonAncestor(targetStates.concat(transition.source));
  if (lca) {
    return lca;
  }
  if (transition.reenter) {
    return;
  }
  return transition.source.machine.root;
}
function computeExitSet(transitions, stateNodeSet, historyValue) {
  const statesToExit = /* @__PURE__ */ new Set();
  for (const t5 of transitions) {
    if (t5.target?.length) {
      const domain = getTransitionDomain(t5, historyValue);
      if (t5.reenter && t5.source === domain) {
        statesToExit.add(domain);
      }
      for (const stateNode of stateNodeSet) {
        if (isDescendant(stateNode, domain)) {
          statesToExit.add(stateNode);
        }
      }
    }
  }
  return [...statesToExit];
}
function areStateNodeCollectionsEqual(prevStateNodes, nextStateNodeSet) {
  if (prevStateNodes.length !== nextStateNodeSet.size) {
    return false;
  }
  for (const node of prevStateNodes) {
    if (!nextStateNodeSet.has(node)) {
      return false;
    }
  }
  return true;
}
function initialMicrostep(root, preInitialState, actorScope, initEvent, internalQueue) {
  return microstep([{
    target: [...getInitialStateNodes(root)],
    source: root,
    reenter: true,
    actions: [],
    eventType: null,
    toJSON: null
  }], preInitialState, actorScope, initEvent, true, internalQueue);
}
function microstep(transitions, currentSnapshot, actorScope, event, isInitial, internalQueue) {
  const actions = [];
  if (!transitions.length) {
    return [currentSnapshot, actions];
  }
  const originalExecutor = actorScope.actionExecutor;
  actorScope.actionExecutor = (action) => {
    actions.push(action);
    originalExecutor(action);
  };
  try {
    const mutStateNodeSet = new Set(currentSnapshot._nodes);
    let historyValue = currentSnapshot.historyValue;
    const filteredTransitions = removeConflictingTransitions(transitions, mutStateNodeSet, historyValue);
    let nextState = currentSnapshot;
    if (!isInitial) {
      [nextState, historyValue] = exitStates(nextState, event, actorScope, filteredTransitions, mutStateNodeSet, historyValue, internalQueue, actorScope.actionExecutor);
    }
    nextState = resolveActionsAndContext(nextState, event, actorScope, filteredTransitions.flatMap((t5) => t5.actions), internalQueue, void 0);
    nextState = enterStates(nextState, event, actorScope, filteredTransitions, mutStateNodeSet, internalQueue, historyValue, isInitial);
    const nextStateNodes = [...mutStateNodeSet];
    if (nextState.status === "done") {
      nextState = resolveActionsAndContext(nextState, event, actorScope, nextStateNodes.sort((a, b) => b.order - a.order).flatMap((state) => state.exit), internalQueue, void 0);
    }
    try {
      if (historyValue === currentSnapshot.historyValue && areStateNodeCollectionsEqual(currentSnapshot._nodes, mutStateNodeSet)) {
        return [nextState, actions];
      }
      return [cloneMachineSnapshot(nextState, {
        _nodes: nextStateNodes,
        historyValue
      }), actions];
    } catch (e) {
      throw e;
    }
  } finally {
    actorScope.actionExecutor = originalExecutor;
  }
}
function getMachineOutput(snapshot, event, actorScope, rootNode, rootCompletionNode) {
  if (rootNode.output === void 0) {
    return;
  }
  const doneStateEvent = createDoneStateEvent(rootCompletionNode.id, rootCompletionNode.output !== void 0 && rootCompletionNode.parent ? resolveOutput(rootCompletionNode.output, snapshot.context, event, actorScope.self) : void 0);
  return resolveOutput(rootNode.output, snapshot.context, doneStateEvent, actorScope.self);
}
function enterStates(currentSnapshot, event, actorScope, filteredTransitions, mutStateNodeSet, internalQueue, historyValue, isInitial) {
  let nextSnapshot = currentSnapshot;
  const statesToEnter = /* @__PURE__ */ new Set();
  const statesForDefaultEntry = /* @__PURE__ */ new Set();
  computeEntrySet(filteredTransitions, historyValue, statesForDefaultEntry, statesToEnter);
  if (isInitial) {
    statesForDefaultEntry.add(currentSnapshot.machine.root);
  }
  const completedNodes = /* @__PURE__ */ new Set();
  for (const stateNodeToEnter of [...statesToEnter].sort((a, b) => a.order - b.order)) {
    mutStateNodeSet.add(stateNodeToEnter);
    const actions = [];
    actions.push(...stateNodeToEnter.entry);
    for (const invokeDef of stateNodeToEnter.invoke) {
      actions.push(spawnChild(invokeDef.src, {
        ...invokeDef,
        syncSnapshot: !!invokeDef.onSnapshot
      }));
    }
    if (statesForDefaultEntry.has(stateNodeToEnter)) {
      const initialActions = stateNodeToEnter.initial.actions;
      actions.push(...initialActions);
    }
    nextSnapshot = resolveActionsAndContext(nextSnapshot, event, actorScope, actions, internalQueue, stateNodeToEnter.invoke.map((invokeDef) => invokeDef.id));
    if (stateNodeToEnter.type === "final") {
      const parent = stateNodeToEnter.parent;
      let ancestorMarker = parent?.type === "parallel" ? parent : parent?.parent;
      let rootCompletionNode = ancestorMarker || stateNodeToEnter;
      if (parent?.type === "compound") {
        internalQueue.push(createDoneStateEvent(parent.id, stateNodeToEnter.output !== void 0 ? resolveOutput(stateNodeToEnter.output, nextSnapshot.context, event, actorScope.self) : void 0));
      }
      while (ancestorMarker?.type === "parallel" && !completedNodes.has(ancestorMarker) && isInFinalState(mutStateNodeSet, ancestorMarker)) {
        completedNodes.add(ancestorMarker);
        internalQueue.push(createDoneStateEvent(ancestorMarker.id));
        rootCompletionNode = ancestorMarker;
        ancestorMarker = ancestorMarker.parent;
      }
      if (ancestorMarker) {
        continue;
      }
      nextSnapshot = cloneMachineSnapshot(nextSnapshot, {
        status: "done",
        output: getMachineOutput(nextSnapshot, event, actorScope, nextSnapshot.machine.root, rootCompletionNode)
      });
    }
  }
  return nextSnapshot;
}
function computeEntrySet(transitions, historyValue, statesForDefaultEntry, statesToEnter) {
  for (const t5 of transitions) {
    const domain = getTransitionDomain(t5, historyValue);
    for (const s of t5.target || []) {
      if (!isHistoryNode(s) && // if the target is different than the source then it will *definitely* be entered
      (t5.source !== s || // we know that the domain can't lie within the source
      // if it's different than the source then it's outside of it and it means that the target has to be entered as well
      t5.source !== domain || // reentering transitions always enter the target, even if it's the source itself
      t5.reenter)) {
        statesToEnter.add(s);
        statesForDefaultEntry.add(s);
      }
      addDescendantStatesToEnter(s, historyValue, statesForDefaultEntry, statesToEnter);
    }
    const targetStates = getEffectiveTargetStates(t5, historyValue);
    for (const s of targetStates) {
      const ancestors = getProperAncestors(s, domain);
      if (domain?.type === "parallel") {
        ancestors.push(domain);
      }
      addAncestorStatesToEnter(statesToEnter, historyValue, statesForDefaultEntry, ancestors, !t5.source.parent && t5.reenter ? void 0 : domain);
    }
  }
}
function addDescendantStatesToEnter(stateNode, historyValue, statesForDefaultEntry, statesToEnter) {
  if (isHistoryNode(stateNode)) {
    if (historyValue[stateNode.id]) {
      const historyStateNodes = historyValue[stateNode.id];
      for (const s of historyStateNodes) {
        statesToEnter.add(s);
        addDescendantStatesToEnter(s, historyValue, statesForDefaultEntry, statesToEnter);
      }
      for (const s of historyStateNodes) {
        addProperAncestorStatesToEnter(s, stateNode.parent, statesToEnter, historyValue, statesForDefaultEntry);
      }
    } else {
      const historyDefaultTransition = resolveHistoryDefaultTransition(stateNode);
      for (const s of historyDefaultTransition.target) {
        statesToEnter.add(s);
        if (historyDefaultTransition === stateNode.parent?.initial) {
          statesForDefaultEntry.add(stateNode.parent);
        }
        addDescendantStatesToEnter(s, historyValue, statesForDefaultEntry, statesToEnter);
      }
      for (const s of historyDefaultTransition.target) {
        addProperAncestorStatesToEnter(s, stateNode.parent, statesToEnter, historyValue, statesForDefaultEntry);
      }
    }
  } else {
    if (stateNode.type === "compound") {
      const [initialState] = stateNode.initial.target;
      if (!isHistoryNode(initialState)) {
        statesToEnter.add(initialState);
        statesForDefaultEntry.add(initialState);
      }
      addDescendantStatesToEnter(initialState, historyValue, statesForDefaultEntry, statesToEnter);
      addProperAncestorStatesToEnter(initialState, stateNode, statesToEnter, historyValue, statesForDefaultEntry);
    } else {
      if (stateNode.type === "parallel") {
        for (const child of getChildren(stateNode).filter((sn) => !isHistoryNode(sn))) {
          if (![...statesToEnter].some((s) => isDescendant(s, child))) {
            if (!isHistoryNode(child)) {
              statesToEnter.add(child);
              statesForDefaultEntry.add(child);
            }
            addDescendantStatesToEnter(child, historyValue, statesForDefaultEntry, statesToEnter);
          }
        }
      }
    }
  }
}
function addAncestorStatesToEnter(statesToEnter, historyValue, statesForDefaultEntry, ancestors, reentrancyDomain) {
  for (const anc of ancestors) {
    if (!reentrancyDomain || isDescendant(anc, reentrancyDomain)) {
      statesToEnter.add(anc);
    }
    if (anc.type === "parallel") {
      for (const child of getChildren(anc).filter((sn) => !isHistoryNode(sn))) {
        if (![...statesToEnter].some((s) => isDescendant(s, child))) {
          statesToEnter.add(child);
          addDescendantStatesToEnter(child, historyValue, statesForDefaultEntry, statesToEnter);
        }
      }
    }
  }
}
function addProperAncestorStatesToEnter(stateNode, toStateNode, statesToEnter, historyValue, statesForDefaultEntry) {
  addAncestorStatesToEnter(statesToEnter, historyValue, statesForDefaultEntry, getProperAncestors(stateNode, toStateNode));
}
function exitStates(currentSnapshot, event, actorScope, transitions, mutStateNodeSet, historyValue, internalQueue, _actionExecutor) {
  let nextSnapshot = currentSnapshot;
  const statesToExit = computeExitSet(transitions, mutStateNodeSet, historyValue);
  statesToExit.sort((a, b) => b.order - a.order);
  let changedHistory;
  for (const exitStateNode of statesToExit) {
    for (const historyNode of getHistoryNodes(exitStateNode)) {
      let predicate;
      if (historyNode.history === "deep") {
        predicate = (sn) => isAtomicStateNode(sn) && isDescendant(sn, exitStateNode);
      } else {
        predicate = (sn) => {
          return sn.parent === exitStateNode;
        };
      }
      changedHistory ??= {
        ...historyValue
      };
      changedHistory[historyNode.id] = Array.from(mutStateNodeSet).filter(predicate);
    }
  }
  for (const s of statesToExit) {
    nextSnapshot = resolveActionsAndContext(nextSnapshot, event, actorScope, [...s.exit, ...s.invoke.map((def) => stopChild(def.id))], internalQueue, void 0);
    mutStateNodeSet.delete(s);
  }
  return [nextSnapshot, changedHistory || historyValue];
}
function getAction(machine, actionType) {
  return machine.implementations.actions[actionType];
}
function resolveAndExecuteActionsWithContext(currentSnapshot, event, actorScope, actions, extra, retries) {
  const {
    machine
  } = currentSnapshot;
  let intermediateSnapshot = currentSnapshot;
  for (const action of actions) {
    const isInline = typeof action === "function";
    const resolvedAction = isInline ? action : (
      // the existing type of `.actions` assumes non-nullable `TExpressionAction`
      // it's fine to cast this here to get a common type and lack of errors in the rest of the code
      // our logic below makes sure that we call those 2 "variants" correctly
      getAction(machine, typeof action === "string" ? action : action.type)
    );
    const actionArgs = {
      context: intermediateSnapshot.context,
      event,
      self: actorScope.self,
      system: actorScope.system
    };
    const actionParams = isInline || typeof action === "string" ? void 0 : "params" in action ? typeof action.params === "function" ? action.params({
      context: intermediateSnapshot.context,
      event
    }) : action.params : void 0;
    if (!resolvedAction || !("resolve" in resolvedAction)) {
      actorScope.actionExecutor({
        type: typeof action === "string" ? action : typeof action === "object" ? action.type : action.name || "(anonymous)",
        info: actionArgs,
        params: actionParams,
        exec: resolvedAction
      });
      continue;
    }
    const builtinAction = resolvedAction;
    const [nextState, params, actions2] = builtinAction.resolve(
      actorScope,
      intermediateSnapshot,
      actionArgs,
      actionParams,
      resolvedAction,
      // this holds all params
      extra
    );
    intermediateSnapshot = nextState;
    if ("retryResolve" in builtinAction) {
      retries?.push([builtinAction, params]);
    }
    if ("execute" in builtinAction) {
      actorScope.actionExecutor({
        type: builtinAction.type,
        info: actionArgs,
        params,
        exec: builtinAction.execute.bind(null, actorScope, params)
      });
    }
    if (actions2) {
      intermediateSnapshot = resolveAndExecuteActionsWithContext(intermediateSnapshot, event, actorScope, actions2, extra, retries);
    }
  }
  return intermediateSnapshot;
}
function resolveActionsAndContext(currentSnapshot, event, actorScope, actions, internalQueue, deferredActorIds) {
  const retries = deferredActorIds ? [] : void 0;
  const nextState = resolveAndExecuteActionsWithContext(currentSnapshot, event, actorScope, actions, {
    internalQueue,
    deferredActorIds
  }, retries);
  retries?.forEach(([builtinAction, params]) => {
    builtinAction.retryResolve(actorScope, nextState, params);
  });
  return nextState;
}
function macrostep(snapshot, event, actorScope, internalQueue) {
  let nextSnapshot = snapshot;
  const microsteps = [];
  function addMicrostep(step, event2, transitions) {
    actorScope.system._sendInspectionEvent({
      type: "@xstate.microstep",
      actorRef: actorScope.self,
      event: event2,
      snapshot: step[0],
      _transitions: transitions
    });
    microsteps.push(step);
  }
  if (event.type === XSTATE_STOP) {
    nextSnapshot = cloneMachineSnapshot(stopChildren(nextSnapshot, event, actorScope), {
      status: "stopped"
    });
    addMicrostep([nextSnapshot, []], event, []);
    return {
      snapshot: nextSnapshot,
      microsteps
    };
  }
  let nextEvent = event;
  if (nextEvent.type !== XSTATE_INIT) {
    const currentEvent = nextEvent;
    const isErr = isErrorActorEvent(currentEvent);
    const transitions = selectTransitions(currentEvent, nextSnapshot);
    if (isErr && !transitions.length) {
      nextSnapshot = cloneMachineSnapshot(stopChildren(nextSnapshot, currentEvent, actorScope), {
        status: "error",
        error: currentEvent.error
      });
      addMicrostep([nextSnapshot, []], currentEvent, []);
      return {
        snapshot: nextSnapshot,
        microsteps
      };
    }
    const step = microstep(
      transitions,
      snapshot,
      actorScope,
      nextEvent,
      false,
      // isInitial
      internalQueue
    );
    nextSnapshot = step[0];
    addMicrostep(step, currentEvent, transitions);
  }
  let shouldSelectEventlessTransitions = true;
  const maxIterations = snapshot.machine.options?.maxIterations ?? Infinity;
  let iterationCount = 0;
  while (nextSnapshot.status === "active") {
    iterationCount++;
    if (iterationCount > maxIterations) {
      throw new Error(`Infinite loop detected: the machine has processed more than ${maxIterations} microsteps without reaching a stable state. This usually happens when there's a cycle of transitions (e.g., eventless transitions or raised events causing state A -> B -> C -> A).`);
    }
    let enabledTransitions = shouldSelectEventlessTransitions ? selectEventlessTransitions(nextSnapshot, nextEvent) : [];
    const previousState = enabledTransitions.length ? nextSnapshot : void 0;
    if (!enabledTransitions.length) {
      if (!internalQueue.length) {
        break;
      }
      nextEvent = internalQueue.shift();
      enabledTransitions = selectTransitions(nextEvent, nextSnapshot);
    }
    const step = microstep(enabledTransitions, nextSnapshot, actorScope, nextEvent, false, internalQueue);
    nextSnapshot = step[0];
    shouldSelectEventlessTransitions = nextSnapshot !== previousState;
    addMicrostep(step, nextEvent, enabledTransitions);
  }
  if (nextSnapshot.status !== "active") {
    stopChildren(nextSnapshot, nextEvent, actorScope);
  }
  return {
    snapshot: nextSnapshot,
    microsteps
  };
}
function stopChildren(nextState, event, actorScope) {
  return resolveActionsAndContext(nextState, event, actorScope, Object.values(nextState.children).map((child) => stopChild(child)), [], void 0);
}
function selectTransitions(event, nextState) {
  return nextState.machine.getTransitionData(nextState, event);
}
function selectEventlessTransitions(nextState, event) {
  const enabledTransitionSet = /* @__PURE__ */ new Set();
  const atomicStates = nextState._nodes.filter(isAtomicStateNode);
  for (const stateNode of atomicStates) {
    loop: for (const s of [stateNode].concat(getProperAncestors(stateNode, void 0))) {
      if (!s.always) {
        continue;
      }
      for (const transition of s.always) {
        if (transition.guard === void 0 || evaluateGuard(transition.guard, nextState.context, event, nextState)) {
          enabledTransitionSet.add(transition);
          break loop;
        }
      }
    }
  }
  return removeConflictingTransitions(Array.from(enabledTransitionSet), new Set(nextState._nodes), nextState.historyValue);
}
function resolveStateValue(rootNode, stateValue) {
  const allStateNodes = getAllStateNodes(getStateNodes(rootNode, stateValue));
  return getStateValue(rootNode, [...allStateNodes]);
}
function isMachineSnapshot(value) {
  return !!value && typeof value === "object" && "machine" in value && "value" in value;
}
var machineSnapshotMatches = function matches(testValue) {
  return matchesState(testValue, this.value);
};
var machineSnapshotHasTag = function hasTag(tag) {
  return this.tags.has(tag);
};
var machineSnapshotCan = function can(event) {
  const transitionData = this.machine.getTransitionData(this, event);
  return !!transitionData?.length && // Check that at least one transition is not forbidden
  transitionData.some((t5) => t5.target !== void 0 || t5.actions.length);
};
var machineSnapshotToJSON = function toJSON() {
  const {
    _nodes: nodes,
    tags,
    machine,
    getMeta: getMeta2,
    toJSON: toJSON2,
    can: can2,
    hasTag: hasTag2,
    matches: matches3,
    ...jsonValues
  } = this;
  return {
    ...jsonValues,
    tags: Array.from(tags)
  };
};
var machineSnapshotGetMeta = function getMeta() {
  return this._nodes.reduce((acc, stateNode) => {
    if (stateNode.meta !== void 0) {
      acc[stateNode.id] = stateNode.meta;
    }
    return acc;
  }, {});
};
function createMachineSnapshot(config, machine) {
  return {
    status: config.status,
    output: config.output,
    error: config.error,
    machine,
    context: config.context,
    _nodes: config._nodes,
    value: getStateValue(machine.root, config._nodes),
    tags: new Set(config._nodes.flatMap((sn) => sn.tags)),
    children: config.children,
    historyValue: config.historyValue || {},
    matches: machineSnapshotMatches,
    hasTag: machineSnapshotHasTag,
    can: machineSnapshotCan,
    getMeta: machineSnapshotGetMeta,
    toJSON: machineSnapshotToJSON
  };
}
function cloneMachineSnapshot(snapshot, config = {}) {
  return createMachineSnapshot({
    ...snapshot,
    ...config
  }, snapshot.machine);
}
function serializeHistoryValue(historyValue) {
  if (typeof historyValue !== "object" || historyValue === null) {
    return {};
  }
  const result = {};
  for (const key in historyValue) {
    const value = historyValue[key];
    if (Array.isArray(value)) {
      result[key] = value.map((item) => ({
        id: item.id
      }));
    }
  }
  return result;
}
function getPersistedSnapshot(snapshot, options) {
  const {
    _nodes: nodes,
    tags,
    machine,
    children,
    context,
    can: can2,
    hasTag: hasTag2,
    matches: matches3,
    getMeta: getMeta2,
    toJSON: toJSON2,
    ...jsonValues
  } = snapshot;
  const childrenJson = {};
  for (const id in children) {
    const child = children[id];
    childrenJson[id] = {
      snapshot: child.getPersistedSnapshot(options),
      src: child.src,
      systemId: child.systemId,
      syncSnapshot: child._syncSnapshot
    };
  }
  const persisted = {
    ...jsonValues,
    context: persistContext(context),
    children: childrenJson,
    historyValue: serializeHistoryValue(jsonValues.historyValue)
  };
  return persisted;
}
function persistContext(contextPart) {
  let copy;
  for (const key in contextPart) {
    const value = contextPart[key];
    if (value && typeof value === "object") {
      if ("sessionId" in value && "send" in value && "ref" in value) {
        copy ??= Array.isArray(contextPart) ? contextPart.slice() : {
          ...contextPart
        };
        copy[key] = {
          xstate$$type: $$ACTOR_TYPE,
          id: value.id
        };
      } else {
        const result = persistContext(value);
        if (result !== value) {
          copy ??= Array.isArray(contextPart) ? contextPart.slice() : {
            ...contextPart
          };
          copy[key] = result;
        }
      }
    }
  }
  return copy ?? contextPart;
}
function resolveRaise(_, snapshot, args, actionParams, {
  event: eventOrExpr,
  id,
  delay
}, {
  internalQueue
}) {
  const delaysMap = snapshot.machine.implementations.delays;
  if (typeof eventOrExpr === "string") {
    throw new Error(
      // oxlint-disable-next-line typescript/restrict-template-expressions
      `Only event objects may be used with raise; use raise({ type: "${eventOrExpr}" }) instead`
    );
  }
  const resolvedEvent = typeof eventOrExpr === "function" ? eventOrExpr(args, actionParams) : eventOrExpr;
  let resolvedDelay;
  if (typeof delay === "string") {
    const configDelay = delaysMap && delaysMap[delay];
    resolvedDelay = typeof configDelay === "function" ? configDelay(args, actionParams) : configDelay;
  } else {
    resolvedDelay = typeof delay === "function" ? delay(args, actionParams) : delay;
  }
  if (typeof resolvedDelay !== "number") {
    internalQueue.push(resolvedEvent);
  }
  return [snapshot, {
    event: resolvedEvent,
    id,
    delay: resolvedDelay
  }, void 0];
}
function executeRaise(actorScope, params) {
  const {
    event,
    delay,
    id
  } = params;
  if (typeof delay === "number") {
    actorScope.defer(() => {
      const self2 = actorScope.self;
      actorScope.system.scheduler.schedule(self2, self2, event, delay, id);
    });
    return;
  }
}
function raise(eventOrExpr, options) {
  function raise2(_args, _params) {
  }
  raise2.type = "xstate.raise";
  raise2.event = eventOrExpr;
  raise2.id = options?.id;
  raise2.delay = options?.delay;
  raise2.resolve = resolveRaise;
  raise2.execute = executeRaise;
  return raise2;
}

// node_modules/xstate/dist/xstate-actors.esm.js
function fromTransition(transition, initialContext) {
  return {
    config: transition,
    transition: (snapshot, event, actorScope) => {
      return {
        ...snapshot,
        context: transition(snapshot.context, event, actorScope)
      };
    },
    getInitialSnapshot: (_, input) => {
      return {
        status: "active",
        output: void 0,
        error: void 0,
        context: typeof initialContext === "function" ? initialContext({
          input
        }) : initialContext
      };
    },
    getPersistedSnapshot: (snapshot) => snapshot,
    restoreSnapshot: (snapshot) => snapshot
  };
}
var instanceStates = /* @__PURE__ */ new WeakMap();
function fromCallback(callback) {
  const logic = {
    config: callback,
    start: (state, actorScope) => {
      const {
        self: self2,
        system,
        emit: emit2
      } = actorScope;
      const callbackState = {
        receivers: void 0,
        dispose: void 0
      };
      instanceStates.set(self2, callbackState);
      callbackState.dispose = callback({
        input: state.input,
        system,
        self: self2,
        sendBack: (event) => {
          if (self2.getSnapshot().status === "stopped") {
            return;
          }
          if (self2._parent) {
            system._relay(self2, self2._parent, event);
          }
        },
        receive: (listener) => {
          callbackState.receivers ??= /* @__PURE__ */ new Set();
          callbackState.receivers.add(listener);
        },
        emit: emit2
      });
    },
    transition: (state, event, actorScope) => {
      const callbackState = instanceStates.get(actorScope.self);
      if (event.type === XSTATE_STOP) {
        state = {
          ...state,
          status: "stopped",
          error: void 0
        };
        instanceStates.delete(actorScope.self);
        callbackState.receivers?.clear();
        callbackState.dispose?.();
        return state;
      }
      callbackState.receivers?.forEach((receiver) => receiver(event));
      return state;
    },
    getInitialSnapshot: (_, input) => {
      return {
        status: "active",
        output: void 0,
        error: void 0,
        input
      };
    },
    getPersistedSnapshot: (snapshot) => snapshot,
    restoreSnapshot: (snapshot) => snapshot
  };
  return logic;
}
var XSTATE_PROMISE_RESOLVE = "xstate.promise.resolve";
var XSTATE_PROMISE_REJECT = "xstate.promise.reject";
var controllerMap = /* @__PURE__ */ new WeakMap();
function fromPromise(promiseCreator) {
  const logic = {
    config: promiseCreator,
    transition: (state, event, scope) => {
      if (state.status !== "active") {
        return state;
      }
      switch (event.type) {
        case XSTATE_PROMISE_RESOLVE: {
          const resolvedValue = event.data;
          return {
            ...state,
            status: "done",
            output: resolvedValue,
            input: void 0
          };
        }
        case XSTATE_PROMISE_REJECT:
          return {
            ...state,
            status: "error",
            error: event.data,
            input: void 0
          };
        case XSTATE_STOP: {
          controllerMap.get(scope.self)?.abort();
          controllerMap.delete(scope.self);
          return {
            ...state,
            status: "stopped",
            input: void 0
          };
        }
        default:
          return state;
      }
    },
    start: (state, {
      self: self2,
      system,
      emit: emit2
    }) => {
      if (state.status !== "active") {
        return;
      }
      const controller = new AbortController();
      controllerMap.set(self2, controller);
      const resolvedPromise = Promise.resolve(promiseCreator({
        input: state.input,
        system,
        self: self2,
        signal: controller.signal,
        emit: emit2
      }));
      resolvedPromise.then((response) => {
        if (self2.getSnapshot().status !== "active") {
          return;
        }
        controllerMap.delete(self2);
        system._relay(self2, self2, {
          type: XSTATE_PROMISE_RESOLVE,
          data: response
        });
      }, (errorData) => {
        if (self2.getSnapshot().status !== "active") {
          return;
        }
        controllerMap.delete(self2);
        system._relay(self2, self2, {
          type: XSTATE_PROMISE_REJECT,
          data: errorData
        });
      });
    },
    getInitialSnapshot: (_, input) => {
      return {
        status: "active",
        output: void 0,
        error: void 0,
        input
      };
    },
    getPersistedSnapshot: (snapshot) => snapshot,
    restoreSnapshot: (snapshot) => snapshot
  };
  return logic;
}
var emptyLogic = fromTransition((_) => void 0, void 0);

// node_modules/xstate/dist/assign-1f0d7720.esm.js
function createSpawner(actorScope, {
  machine,
  context
}, event, spawnedChildren) {
  const spawn = (src, options) => {
    if (typeof src === "string") {
      const logic = resolveReferencedActor(machine, src);
      if (!logic) {
        throw new Error(`Actor logic '${src}' not implemented in machine '${machine.id}'`);
      }
      const actorRef = createActor(logic, {
        id: options?.id,
        parent: actorScope.self,
        syncSnapshot: options?.syncSnapshot,
        input: typeof options?.input === "function" ? options.input({
          context,
          event,
          self: actorScope.self
        }) : options?.input,
        src,
        systemId: options?.systemId
      });
      spawnedChildren[actorRef.id] = actorRef;
      return actorRef;
    } else {
      const actorRef = createActor(src, {
        id: options?.id,
        parent: actorScope.self,
        syncSnapshot: options?.syncSnapshot,
        input: options?.input,
        src,
        systemId: options?.systemId
      });
      return actorRef;
    }
  };
  return (src, options) => {
    const actorRef = spawn(src, options);
    spawnedChildren[actorRef.id] = actorRef;
    actorScope.defer(() => {
      if (actorRef._processingStatus === ProcessingStatus.Stopped) {
        return;
      }
      actorRef.start();
    });
    return actorRef;
  };
}
function resolveAssign(actorScope, snapshot, actionArgs, actionParams, {
  assignment
}) {
  if (!snapshot.context) {
    throw new Error("Cannot assign to undefined `context`. Ensure that `context` is defined in the machine config.");
  }
  const spawnedChildren = {};
  const assignArgs = {
    context: snapshot.context,
    event: actionArgs.event,
    spawn: createSpawner(actorScope, snapshot, actionArgs.event, spawnedChildren),
    self: actorScope.self,
    system: actorScope.system
  };
  let partialUpdate = {};
  if (typeof assignment === "function") {
    partialUpdate = assignment(assignArgs, actionParams);
  } else {
    for (const key of Object.keys(assignment)) {
      const propAssignment = assignment[key];
      partialUpdate[key] = typeof propAssignment === "function" ? propAssignment(assignArgs, actionParams) : propAssignment;
    }
  }
  const updatedContext = Object.assign({}, snapshot.context, partialUpdate);
  return [cloneMachineSnapshot(snapshot, {
    context: updatedContext,
    children: Object.keys(spawnedChildren).length ? {
      ...snapshot.children,
      ...spawnedChildren
    } : snapshot.children
  }), void 0, void 0];
}
function assign(assignment) {
  function assign2(_args, _params) {
  }
  assign2.type = "xstate.assign";
  assign2.assignment = assignment;
  assign2.resolve = resolveAssign;
  return assign2;
}

// node_modules/xstate/dist/StateMachine-ae06a22b.esm.js
var cache = /* @__PURE__ */ new WeakMap();
function memo(object, key, fn) {
  let memoizedData = cache.get(object);
  if (!memoizedData) {
    memoizedData = {
      [key]: fn()
    };
    cache.set(object, memoizedData);
  } else if (!(key in memoizedData)) {
    memoizedData[key] = fn();
  }
  return memoizedData[key];
}
var EMPTY_OBJECT = {};
var toSerializableAction = (action) => {
  if (typeof action === "string") {
    return {
      type: action
    };
  }
  if (typeof action === "function") {
    if ("resolve" in action) {
      return {
        type: action.type
      };
    }
    return {
      type: action.name
    };
  }
  return action;
};
var StateNode = class _StateNode {
  constructor(config, options) {
    this.config = config;
    this.key = void 0;
    this.id = void 0;
    this.type = void 0;
    this.path = void 0;
    this.states = void 0;
    this.history = void 0;
    this.entry = void 0;
    this.exit = void 0;
    this.parent = void 0;
    this.machine = void 0;
    this.meta = void 0;
    this.output = void 0;
    this.order = -1;
    this.description = void 0;
    this.tags = [];
    this.transitions = void 0;
    this.always = void 0;
    this.parent = options._parent;
    this.key = options._key;
    this.machine = options._machine;
    this.path = this.parent ? this.parent.path.concat(this.key) : [];
    this.id = this.config.id || [this.machine.id, ...this.path].join(STATE_DELIMITER);
    this.type = this.config.type || (this.config.states && Object.keys(this.config.states).length ? "compound" : this.config.history ? "history" : "atomic");
    this.description = this.config.description;
    this.order = this.machine.idMap.size;
    this.machine.idMap.set(this.id, this);
    this.states = this.config.states ? mapValues(this.config.states, (stateConfig, key) => {
      const stateNode = new _StateNode(stateConfig, {
        _parent: this,
        _key: key,
        _machine: this.machine
      });
      return stateNode;
    }) : EMPTY_OBJECT;
    if (this.type === "compound" && !this.config.initial) {
      throw new Error(`No initial state specified for compound state node "#${this.id}". Try adding { initial: "${Object.keys(this.states)[0]}" } to the state config.`);
    }
    this.history = this.config.history === true ? "shallow" : this.config.history || false;
    this.entry = toArray(this.config.entry).slice();
    this.exit = toArray(this.config.exit).slice();
    this.meta = this.config.meta;
    this.output = this.type === "final" || !this.parent ? this.config.output : void 0;
    this.tags = toArray(config.tags).slice();
  }
  /** @internal */
  _initialize() {
    this.transitions = formatTransitions(this);
    if (this.config.always) {
      this.always = toTransitionConfigArray(this.config.always).map((t5) => formatTransition(this, NULL_EVENT, t5));
    }
    Object.keys(this.states).forEach((key) => {
      this.states[key]._initialize();
    });
  }
  /** The well-structured state node definition. */
  get definition() {
    return {
      id: this.id,
      key: this.key,
      version: this.machine.version,
      type: this.type,
      initial: this.initial ? {
        target: this.initial.target,
        source: this,
        actions: this.initial.actions.map(toSerializableAction),
        eventType: null,
        reenter: false,
        meta: this.initial.meta,
        description: this.initial.description,
        toJSON: () => ({
          target: this.initial.target.map((t5) => `#${t5.id}`),
          source: `#${this.id}`,
          actions: this.initial.actions.map(toSerializableAction),
          eventType: null,
          meta: this.initial.meta,
          description: this.initial.description
        })
      } : void 0,
      history: this.history,
      states: mapValues(this.states, (state) => state.definition),
      on: this.on,
      transitions: [...this.transitions.values()].flat().map((t5) => ({
        ...t5,
        actions: t5.actions.map(toSerializableAction)
      })),
      entry: this.entry.map(toSerializableAction),
      exit: this.exit.map(toSerializableAction),
      meta: this.meta,
      order: this.order || -1,
      output: this.output,
      invoke: this.invoke,
      description: this.description,
      tags: this.tags
    };
  }
  /** @internal */
  toJSON() {
    return this.definition;
  }
  /** The logic invoked as actors by this state node. */
  get invoke() {
    return memo(this, "invoke", () => toArray(this.config.invoke).map((invokeConfig, i) => {
      const {
        src,
        systemId
      } = invokeConfig;
      const resolvedId = invokeConfig.id ?? createInvokeId(this.id, i);
      const sourceName = typeof src === "string" ? src : `xstate.invoke.${createInvokeId(this.id, i)}`;
      return {
        ...invokeConfig,
        src: sourceName,
        id: resolvedId,
        systemId,
        toJSON() {
          const {
            onDone,
            onError,
            ...invokeDefValues
          } = invokeConfig;
          return {
            ...invokeDefValues,
            type: "xstate.invoke",
            src: sourceName,
            id: resolvedId
          };
        }
      };
    }));
  }
  /** The mapping of events to transitions. */
  get on() {
    return memo(this, "on", () => {
      const transitions = this.transitions;
      return [...transitions].flatMap(([descriptor, t5]) => t5.map((t6) => [descriptor, t6])).reduce((map6, [descriptor, transition]) => {
        map6[descriptor] = map6[descriptor] || [];
        map6[descriptor].push(transition);
        return map6;
      }, {});
    });
  }
  get after() {
    return memo(this, "delayedTransitions", () => getDelayedTransitions(this));
  }
  get initial() {
    return memo(this, "initial", () => formatInitialTransition(this, this.config.initial));
  }
  /** @internal */
  next(snapshot, event) {
    const eventType = event.type;
    const actions = [];
    let selectedTransition;
    const candidates = memo(this, `candidates-${eventType}`, () => getCandidates(this, eventType));
    for (const candidate of candidates) {
      const {
        guard
      } = candidate;
      const resolvedContext = snapshot.context;
      let guardPassed = false;
      try {
        guardPassed = !guard || evaluateGuard(guard, resolvedContext, event, snapshot);
      } catch (err) {
        const guardType = typeof guard === "string" ? guard : typeof guard === "object" ? guard.type : void 0;
        throw new Error(`Unable to evaluate guard ${guardType ? `'${guardType}' ` : ""}in transition for event '${eventType}' in state node '${this.id}':
${err.message}`);
      }
      if (guardPassed) {
        actions.push(...candidate.actions);
        selectedTransition = candidate;
        break;
      }
    }
    return selectedTransition ? [selectedTransition] : void 0;
  }
  /** All the event types accepted by this state node and its descendants. */
  get events() {
    return memo(this, "events", () => {
      const {
        states
      } = this;
      const events = new Set(this.ownEvents);
      if (states) {
        for (const stateId of Object.keys(states)) {
          const state = states[stateId];
          if (state.states) {
            for (const event of state.events) {
              events.add(`${event}`);
            }
          }
        }
      }
      return Array.from(events);
    });
  }
  /**
   * All the events that have transitions directly from this state node.
   *
   * Excludes any inert events.
   */
  get ownEvents() {
    const keys = Object.keys(Object.fromEntries(this.transitions));
    const events = new Set(keys.filter((descriptor) => {
      return this.transitions.get(descriptor).some((transition) => !(!transition.target && !transition.actions.length && !transition.reenter));
    }));
    return Array.from(events);
  }
};
var STATE_IDENTIFIER2 = "#";
var StateMachine = class _StateMachine {
  constructor(config, implementations) {
    this.config = config;
    this.version = void 0;
    this.schemas = void 0;
    this.implementations = void 0;
    this.options = void 0;
    this.__xstatenode = true;
    this.idMap = /* @__PURE__ */ new Map();
    this.root = void 0;
    this.id = void 0;
    this.states = void 0;
    this.events = void 0;
    this.id = config.id || "(machine)";
    this.implementations = {
      actors: implementations?.actors ?? {},
      actions: implementations?.actions ?? {},
      delays: implementations?.delays ?? {},
      guards: implementations?.guards ?? {}
    };
    this.version = this.config.version;
    this.schemas = this.config.schemas;
    this.options = {
      maxIterations: Infinity,
      ...this.config.options
    };
    this.transition = this.transition.bind(this);
    this.getInitialSnapshot = this.getInitialSnapshot.bind(this);
    this.getPersistedSnapshot = this.getPersistedSnapshot.bind(this);
    this.restoreSnapshot = this.restoreSnapshot.bind(this);
    this.start = this.start.bind(this);
    this.root = new StateNode(config, {
      _key: this.id,
      _machine: this
    });
    this.root._initialize();
    formatRouteTransitions(this.root);
    this.states = this.root.states;
    this.events = this.root.events;
  }
  /**
   * Clones this state machine with the provided implementations.
   *
   * @param implementations Options (`actions`, `guards`, `actors`, `delays`) to
   *   recursively merge with the existing options.
   * @returns A new `StateMachine` instance with the provided implementations.
   */
  provide(implementations) {
    const {
      actions,
      guards,
      actors,
      delays
    } = this.implementations;
    return new _StateMachine(this.config, {
      actions: {
        ...actions,
        ...implementations.actions
      },
      guards: {
        ...guards,
        ...implementations.guards
      },
      actors: {
        ...actors,
        ...implementations.actors
      },
      delays: {
        ...delays,
        ...implementations.delays
      }
    });
  }
  resolveState(config) {
    const resolvedStateValue = resolveStateValue(this.root, config.value);
    const nodeSet = getAllStateNodes(getStateNodes(this.root, resolvedStateValue));
    return createMachineSnapshot({
      _nodes: [...nodeSet],
      context: config.context || {},
      children: {},
      status: isInFinalState(nodeSet, this.root) ? "done" : config.status || "active",
      output: config.output,
      error: config.error,
      historyValue: config.historyValue
    }, this);
  }
  /**
   * Determines the next snapshot given the current `snapshot` and received
   * `event`. Calculates a full macrostep from all microsteps.
   *
   * @param snapshot The current snapshot
   * @param event The received event
   */
  transition(snapshot, event, actorScope) {
    return macrostep(snapshot, event, actorScope, []).snapshot;
  }
  /**
   * Determines the next state given the current `state` and `event`. Calculates
   * a microstep.
   *
   * @param state The current state
   * @param event The received event
   */
  microstep(snapshot, event, actorScope) {
    return macrostep(snapshot, event, actorScope, []).microsteps.map(([s]) => s);
  }
  getTransitionData(snapshot, event) {
    return transitionNode(this.root, snapshot.value, snapshot, event) || [];
  }
  /**
   * The initial state _before_ evaluating any microsteps. This "pre-initial"
   * state is provided to initial actions executed in the initial state.
   *
   * @internal
   */
  _getPreInitialState(actorScope, initEvent, internalQueue) {
    const {
      context
    } = this.config;
    const preInitial = createMachineSnapshot({
      context: typeof context !== "function" && context ? context : {},
      _nodes: [this.root],
      children: {},
      status: "active"
    }, this);
    if (typeof context === "function") {
      const assignment = ({
        spawn,
        event,
        self: self2
      }) => context({
        spawn,
        input: event.input,
        self: self2
      });
      return resolveActionsAndContext(preInitial, initEvent, actorScope, [assign(assignment)], internalQueue, void 0);
    }
    return preInitial;
  }
  /**
   * Returns the initial `State` instance, with reference to `self` as an
   * `ActorRef`.
   */
  getInitialSnapshot(actorScope, input) {
    const initEvent = createInitEvent(input);
    const internalQueue = [];
    let snapshot = createMachineSnapshot({
      context: typeof this.config.context !== "function" && this.config.context ? this.config.context : {},
      _nodes: [this.root],
      children: {},
      status: "active"
    }, this);
    try {
      snapshot = this._getPreInitialState(actorScope, initEvent, internalQueue);
      const [nextState] = initialMicrostep(this.root, snapshot, actorScope, initEvent, internalQueue);
      const {
        snapshot: macroState
      } = macrostep(nextState, initEvent, actorScope, internalQueue);
      return macroState;
    } catch (error) {
      return cloneMachineSnapshot(snapshot, {
        status: "error",
        error
      });
    }
  }
  start(snapshot) {
    Object.values(snapshot.children).forEach((child) => {
      if (child.getSnapshot().status === "active") {
        child.start();
      }
    });
  }
  getStateNodeById(stateId) {
    const fullPath = toStatePath(stateId);
    const relativePath = fullPath.slice(1);
    const resolvedStateId = isStateId(fullPath[0]) ? fullPath[0].slice(STATE_IDENTIFIER2.length) : fullPath[0];
    const stateNode = this.idMap.get(resolvedStateId);
    if (!stateNode) {
      throw new Error(`Child state node '#${resolvedStateId}' does not exist on machine '${this.id}'`);
    }
    return getStateNodeByPath(stateNode, relativePath);
  }
  get definition() {
    return this.root.definition;
  }
  toJSON() {
    return this.definition;
  }
  getPersistedSnapshot(snapshot, options) {
    return getPersistedSnapshot(snapshot, options);
  }
  restoreSnapshot(snapshot, _actorScope) {
    const children = {};
    const snapshotChildren = snapshot.children;
    Object.keys(snapshotChildren).forEach((actorId) => {
      const actorData = snapshotChildren[actorId];
      const childState = actorData.snapshot;
      const src = actorData.src;
      const logic = typeof src === "string" ? resolveReferencedActor(this, src) : src;
      if (!logic) {
        return;
      }
      const actorRef = createActor(logic, {
        id: actorId,
        parent: _actorScope.self,
        syncSnapshot: actorData.syncSnapshot,
        snapshot: childState,
        src,
        systemId: actorData.systemId
      });
      children[actorId] = actorRef;
    });
    function resolveHistoryReferencedState(root, referenced) {
      if (referenced instanceof StateNode) {
        return referenced;
      }
      try {
        return root.machine.getStateNodeById(referenced.id);
      } catch {
      }
    }
    function reviveHistoryValue(root, historyValue) {
      if (!historyValue || typeof historyValue !== "object") {
        return {};
      }
      const revived = {};
      for (const key in historyValue) {
        const arr = historyValue[key];
        for (const item of arr) {
          const resolved = resolveHistoryReferencedState(root, item);
          if (!resolved) {
            continue;
          }
          revived[key] ??= [];
          revived[key].push(resolved);
        }
      }
      return revived;
    }
    const revivedHistoryValue = reviveHistoryValue(this.root, snapshot.historyValue);
    const restoredSnapshot = createMachineSnapshot({
      ...snapshot,
      children,
      _nodes: Array.from(getAllStateNodes(getStateNodes(this.root, snapshot.value))),
      historyValue: revivedHistoryValue
    }, this);
    const seen = /* @__PURE__ */ new Set();
    function reviveContext(contextPart, children2) {
      if (seen.has(contextPart)) {
        return;
      }
      seen.add(contextPart);
      for (const key in contextPart) {
        const value = contextPart[key];
        if (value && typeof value === "object") {
          if ("xstate$$type" in value && value.xstate$$type === $$ACTOR_TYPE) {
            contextPart[key] = children2[value.id];
            continue;
          }
          reviveContext(value, children2);
        }
      }
    }
    reviveContext(restoredSnapshot.context, children);
    return restoredSnapshot;
  }
};

// node_modules/xstate/dist/log-6a5e50a8.esm.js
function resolveEmit(_, snapshot, args, actionParams, {
  event: eventOrExpr
}) {
  const resolvedEvent = typeof eventOrExpr === "function" ? eventOrExpr(args, actionParams) : eventOrExpr;
  return [snapshot, {
    event: resolvedEvent
  }, void 0];
}
function executeEmit(actorScope, {
  event
}) {
  actorScope.defer(() => actorScope.emit(event));
}
function emit(eventOrExpr) {
  function emit2(_args, _params) {
  }
  emit2.type = "xstate.emit";
  emit2.event = eventOrExpr;
  emit2.resolve = resolveEmit;
  emit2.execute = executeEmit;
  return emit2;
}
var SpecialTargets = /* @__PURE__ */ (function(SpecialTargets2) {
  SpecialTargets2["Parent"] = "#_parent";
  SpecialTargets2["Internal"] = "#_internal";
  return SpecialTargets2;
})({});
function resolveSendTo(actorScope, snapshot, args, actionParams, {
  to,
  event: eventOrExpr,
  id,
  delay
}, extra) {
  const delaysMap = snapshot.machine.implementations.delays;
  if (typeof eventOrExpr === "string") {
    throw new Error(
      // oxlint-disable-next-line typescript/restrict-template-expressions
      `Only event objects may be used with sendTo; use sendTo({ type: "${eventOrExpr}" }) instead`
    );
  }
  const resolvedEvent = typeof eventOrExpr === "function" ? eventOrExpr(args, actionParams) : eventOrExpr;
  let resolvedDelay;
  if (typeof delay === "string") {
    const configDelay = delaysMap && delaysMap[delay];
    resolvedDelay = typeof configDelay === "function" ? configDelay(args, actionParams) : configDelay;
  } else {
    resolvedDelay = typeof delay === "function" ? delay(args, actionParams) : delay;
  }
  const resolvedTarget = typeof to === "function" ? to(args, actionParams) : to;
  let targetActorRef;
  if (typeof resolvedTarget === "string") {
    if (resolvedTarget === SpecialTargets.Parent) {
      targetActorRef = actorScope.self._parent;
    } else if (resolvedTarget === SpecialTargets.Internal) {
      targetActorRef = actorScope.self;
    } else if (resolvedTarget.startsWith("#_")) {
      targetActorRef = snapshot.children[resolvedTarget.slice(2)];
    } else {
      targetActorRef = extra.deferredActorIds?.includes(resolvedTarget) ? resolvedTarget : snapshot.children[resolvedTarget];
    }
    if (!targetActorRef) {
      throw new Error(`Unable to send event to actor '${resolvedTarget}' from machine '${snapshot.machine.id}'.`);
    }
  } else {
    targetActorRef = resolvedTarget || actorScope.self;
  }
  return [snapshot, {
    to: targetActorRef,
    targetId: typeof resolvedTarget === "string" ? resolvedTarget : void 0,
    event: resolvedEvent,
    id,
    delay: resolvedDelay
  }, void 0];
}
function retryResolveSendTo(_, snapshot, params) {
  if (typeof params.to === "string") {
    params.to = snapshot.children[params.to];
  }
}
function executeSendTo(actorScope, params) {
  actorScope.defer(() => {
    const {
      to,
      event,
      delay,
      id
    } = params;
    if (typeof delay === "number") {
      actorScope.system.scheduler.schedule(actorScope.self, to, event, delay, id);
      return;
    }
    actorScope.system._relay(
      actorScope.self,
      // at this point, in a deferred task, it should already be mutated by retryResolveSendTo
      // if it initially started as a string
      to,
      event.type === XSTATE_ERROR ? createErrorActorEvent(actorScope.self.id, event.data) : event
    );
  });
}
function sendTo(to, eventOrExpr, options) {
  function sendTo2(_args, _params) {
  }
  sendTo2.type = "xstate.sendTo";
  sendTo2.to = to;
  sendTo2.event = eventOrExpr;
  sendTo2.id = options?.id;
  sendTo2.delay = options?.delay;
  sendTo2.resolve = resolveSendTo;
  sendTo2.retryResolve = retryResolveSendTo;
  sendTo2.execute = executeSendTo;
  return sendTo2;
}
function sendParent(event, options) {
  return sendTo(SpecialTargets.Parent, event, options);
}
function resolveEnqueueActions(actorScope, snapshot, args, actionParams, {
  collect
}) {
  const actions = [];
  const enqueue = function enqueue2(action) {
    actions.push(action);
  };
  enqueue.assign = (...args2) => {
    actions.push(assign(...args2));
  };
  enqueue.cancel = (...args2) => {
    actions.push(cancel(...args2));
  };
  enqueue.raise = (...args2) => {
    actions.push(raise(...args2));
  };
  enqueue.sendTo = (...args2) => {
    actions.push(sendTo(...args2));
  };
  enqueue.sendParent = (...args2) => {
    actions.push(sendParent(...args2));
  };
  enqueue.spawnChild = (...args2) => {
    actions.push(spawnChild(...args2));
  };
  enqueue.stopChild = (...args2) => {
    actions.push(stopChild(...args2));
  };
  enqueue.emit = (...args2) => {
    actions.push(emit(...args2));
  };
  collect({
    context: args.context,
    event: args.event,
    enqueue,
    check: (guard) => evaluateGuard(guard, snapshot.context, args.event, snapshot),
    self: actorScope.self,
    system: actorScope.system
  }, actionParams);
  return [snapshot, void 0, actions];
}
function enqueueActions(collect) {
  function enqueueActions2(_args, _params) {
  }
  enqueueActions2.type = "xstate.enqueueActions";
  enqueueActions2.collect = collect;
  enqueueActions2.resolve = resolveEnqueueActions;
  return enqueueActions2;
}
function resolveLog(_, snapshot, actionArgs, actionParams, {
  value,
  label
}) {
  return [snapshot, {
    value: typeof value === "function" ? value(actionArgs, actionParams) : value,
    label
  }, void 0];
}
function executeLog({
  logger
}, {
  value,
  label
}) {
  if (label) {
    logger(label, value);
  } else {
    logger(value);
  }
}
function log(value = ({
  context,
  event
}) => ({
  context,
  event
}), label) {
  function log2(_args, _params) {
  }
  log2.type = "xstate.log";
  log2.value = value;
  log2.label = label;
  log2.resolve = resolveLog;
  log2.execute = executeLog;
  return log2;
}

// node_modules/xstate/dist/xstate.esm.js
function createMachine(config, implementations) {
  return new StateMachine(config, implementations);
}
function setup({
  schemas,
  actors,
  actions,
  guards,
  delays
}) {
  return {
    assign,
    sendTo,
    raise,
    log,
    cancel,
    stopChild,
    enqueueActions,
    emit,
    spawnChild,
    createStateConfig: (config) => config,
    createAction: (fn) => fn,
    createMachine: (config) => createMachine({
      ...config,
      schemas
    }, {
      actors,
      actions,
      guards,
      delays
    }),
    extend: (extended) => setup({
      schemas,
      actors,
      actions: {
        ...actions,
        ...extended.actions
      },
      guards: {
        ...guards,
        ...extended.guards
      },
      delays: {
        ...delays,
        ...extended.delays
      }
    })
  };
}
var SimulatedClock = class {
  constructor() {
    this.timeouts = /* @__PURE__ */ new Map();
    this._now = 0;
    this._id = 0;
    this._flushing = false;
    this._flushingInvalidated = false;
  }
  now() {
    return this._now;
  }
  getId() {
    return this._id++;
  }
  setTimeout(fn, timeout) {
    this._flushingInvalidated = this._flushing;
    const id = this.getId();
    this.timeouts.set(id, {
      start: this.now(),
      timeout,
      fn
    });
    return id;
  }
  clearTimeout(id) {
    this._flushingInvalidated = this._flushing;
    this.timeouts.delete(id);
  }
  set(time) {
    if (this._now > time) {
      throw new Error("Unable to travel back in time");
    }
    this._now = time;
    this.flushTimeouts();
  }
  flushTimeouts() {
    if (this._flushing) {
      this._flushingInvalidated = true;
      return;
    }
    this._flushing = true;
    const sorted = [...this.timeouts].sort(([_idA, timeoutA], [_idB, timeoutB]) => {
      const endA = timeoutA.start + timeoutA.timeout;
      const endB = timeoutB.start + timeoutB.timeout;
      return endB > endA ? -1 : 1;
    });
    for (const [id, timeout] of sorted) {
      if (this._flushingInvalidated) {
        this._flushingInvalidated = false;
        this._flushing = false;
        this.flushTimeouts();
        return;
      }
      if (this.now() - timeout.start >= timeout.timeout) {
        this.timeouts.delete(id);
        timeout.fn.call(null);
      }
    }
    this._flushing = false;
  }
  increment(ms) {
    this._now += ms;
    this.flushTimeouts();
  }
};
function toPromise(actor) {
  return new Promise((resolve, reject) => {
    actor.subscribe({
      complete: () => {
        resolve(actor.getSnapshot().output);
      },
      error: reject
    });
  });
}

// src/device/sim/device.ts
var E17 = __toESM(require_Either(), 1);

// src/memory/address-space.ts
var E = __toESM(require_Either(), 1);
var PAGE_SIZE = 4096;
var TWO32 = 4294967296;
var MAX_SAFE_ADDR = Number.MAX_SAFE_INTEGER;
var memoryError = (kind, space, addr, len, what) => ({
  _tag: "MemoryError",
  kind,
  space,
  addr,
  len,
  message: `${space}: ${what ?? kind} at 0x${addr.toString(16)} (+${len})`
});
var AddressSpace = class {
  constructor(name) {
    this.name = name;
  }
  name;
  list = [];
  last;
  hook;
  /** Regions, sorted by base address. */
  regions() {
    return this.list;
  }
  /**
   * Map `size` bytes of `buffer` (from `offset`) at `base`. A fresh zeroed buffer is made when `buffer`
   * is a number (its size). Overlap with an existing region is an error.
   */
  addRegion(base, buffer, opts = {}) {
    const buf = typeof buffer === "number" ? new ArrayBuffer(buffer) : buffer;
    const offset = opts.offset ?? 0;
    const size = opts.size ?? buf.byteLength - offset;
    if (!Number.isSafeInteger(base) || base < 0 || !Number.isSafeInteger(size) || size <= 0 || base + size > MAX_SAFE_ADDR || offset < 0 || offset + size > buf.byteLength) {
      return E.left(memoryError("invalid-region", this.name, base, size));
    }
    for (const r of this.list) {
      if (base < r.base + r.size && r.base < base + size) {
        return E.left(memoryError("overlap", this.name, base, size, `region overlaps ${r.name}`));
      }
    }
    const region = {
      name: opts.name ?? `${this.name}@0x${base.toString(16)}`,
      base,
      size,
      buffer: buf,
      offset,
      bytes: new Uint8Array(buf, offset, size),
      view: new DataView(buf, offset, size)
    };
    this.list.push(region);
    this.list.sort((a, b) => a.base - b.base);
    return E.right(region);
  }
  /** Remove the region that starts at `base`. */
  removeRegion(base) {
    const i = this.list.findIndex((r2) => r2.base === base);
    if (i < 0) return E.left(memoryError("unmapped", this.name, base, 0, "no region starts"));
    const [r] = this.list.splice(i, 1);
    if (this.last === r) this.last = void 0;
    return E.right(r);
  }
  /** The region holding all of [addr, addr+len), or undefined. Allocation-free (hot path). */
  find(addr, len) {
    if (!(len >= 0)) return void 0;
    const l = this.last;
    if (l !== void 0 && addr >= l.base && addr + len <= l.base + l.size) return l;
    const list = this.list;
    for (let i = 0; i < list.length; i++) {
      const r = list[i];
      if (addr >= r.base && addr + len <= r.base + r.size) {
        this.last = r;
        return r;
      }
    }
    return void 0;
  }
  /** True when [addr, addr+len) lies inside one region. Allocation-free. */
  contains(addr, len) {
    return this.find(addr, len) !== void 0;
  }
  /** Resolve a range to its region, or a typed error naming the address. */
  resolve(addr, len) {
    const r = this.find(addr, len);
    return r === void 0 ? E.left(memoryError("unmapped", this.name, addr, len)) : E.right(r);
  }
  /** A view (no copy) of [addr, addr+len). */
  slice(addr, len) {
    const r = this.find(addr, len);
    if (r === void 0) return E.left(memoryError("unmapped", this.name, addr, len));
    const o = addr - r.base;
    return E.right(r.bytes.subarray(o, o + len));
  }
  read(addr, len) {
    return E.map((v) => v.slice())(this.slice(addr, len));
  }
  write(addr, data) {
    const r = this.find(addr, data.length);
    if (r === void 0) return E.left(memoryError("unmapped", this.name, addr, data.length));
    r.bytes.set(data, addr - r.base);
    this.noteWrite(addr, data.length);
    return E.right(void 0);
  }
  readU8(addr) {
    const r = this.find(addr, 1);
    return r === void 0 ? E.left(memoryError("unmapped", this.name, addr, 1)) : E.right(r.bytes[addr - r.base]);
  }
  readU16(addr) {
    const r = this.find(addr, 2);
    return r === void 0 ? E.left(memoryError("unmapped", this.name, addr, 2)) : E.right(r.view.getUint16(addr - r.base, true));
  }
  readU32(addr) {
    const r = this.find(addr, 4);
    return r === void 0 ? E.left(memoryError("unmapped", this.name, addr, 4)) : E.right(r.view.getUint32(addr - r.base, true));
  }
  /** A le64 as a number; values ≥ 2^53 are refused (no address of ours is that large). */
  readU64(addr) {
    const r = this.find(addr, 8);
    if (r === void 0) return E.left(memoryError("unmapped", this.name, addr, 8));
    const o = addr - r.base;
    const hi = r.view.getUint32(o + 4, true);
    if (hi >= 2097152) return E.left(memoryError("unmapped", this.name, addr, 8, "le64 value beyond 2^53"));
    return E.right(hi * TWO32 + r.view.getUint32(o, true));
  }
  writeU8(addr, v) {
    const r = this.find(addr, 1);
    if (r === void 0) return E.left(memoryError("unmapped", this.name, addr, 1));
    r.bytes[addr - r.base] = v;
    this.noteWrite(addr, 1);
    return E.right(void 0);
  }
  writeU16(addr, v) {
    const r = this.find(addr, 2);
    if (r === void 0) return E.left(memoryError("unmapped", this.name, addr, 2));
    r.view.setUint16(addr - r.base, v, true);
    this.noteWrite(addr, 2);
    return E.right(void 0);
  }
  writeU32(addr, v) {
    const r = this.find(addr, 4);
    if (r === void 0) return E.left(memoryError("unmapped", this.name, addr, 4));
    r.view.setUint32(addr - r.base, v >>> 0, true);
    this.noteWrite(addr, 4);
    return E.right(void 0);
  }
  writeU64(addr, v) {
    const r = this.find(addr, 8);
    if (r === void 0) return E.left(memoryError("unmapped", this.name, addr, 8));
    const o = addr - r.base;
    r.view.setUint32(o, v >>> 0, true);
    r.view.setUint32(o + 4, Math.floor(v / TWO32) >>> 0, true);
    this.noteWrite(addr, 8);
    return E.right(void 0);
  }
  /** Install (or clear) the write hook: the dirty-page log of migration listens here. */
  setWriteHook(hook) {
    this.hook = hook;
  }
  /**
   * Report that [addr, addr+len) was written. Code that writes through a region's own view (the ring
   * layer's hot paths do) calls this so the dirty log sees every byte written by the device side.
   */
  noteWrite(addr, len) {
    const h = this.hook;
    if (h !== void 0) h(addr, len);
  }
};
function getU64(view, o) {
  const hi = view.getUint32(o + 4, true);
  if (hi >= 2097152) return -1;
  return hi * 4294967296 + view.getUint32(o, true);
}
function setU64(view, o, v) {
  view.setUint32(o, v >>> 0, true);
  view.setUint32(o + 4, v * 23283064365386963e-26 >>> 0, true);
}

// src/ring/types.ts
var ringError = (layout, rule, message, index) => index === void 0 ? { _tag: "RingError", rule, layout, message } : { _tag: "RingError", rule, layout, index, message };
var isRingError = (x) => typeof x === "object" && x !== null && x._tag === "RingError";
var VRING_DESC_F_NEXT = 1;
var VRING_DESC_F_WRITE = 2;
var VRING_DESC_F_INDIRECT = 4;
var VRING_PACKED_DESC_F_AVAIL = 1 << 7;
var VRING_PACKED_DESC_F_USED = 1 << 15;
var VRING_AVAIL_F_NO_INTERRUPT = 1;
var VRING_USED_F_NO_NOTIFY = 1;
var VRING_PACKED_EVENT_FLAG_ENABLE = 0;
var VRING_PACKED_EVENT_FLAG_DISABLE = 1;
var VRING_PACKED_EVENT_FLAG_DESC = 2;
var VRING_PACKED_EVENT_F_WRAP_CTR = 15;
var MAX_QUEUE_SIZE = 32768;
var Chain = class {
  /** Split: head descriptor index. Packed: buffer id (from the last descriptor of the chain). */
  id = 0;
  /** Descriptors the chain occupies on the ring itself (1 for an indirect chain); packed uses it to skip. */
  ringDescs = 0;
  /** The chain came through an indirect table. */
  indirect = false;
  count = 0;
  outCount = 0;
  /** Sum of device-readable / device-writable lengths. */
  outBytes = 0;
  inBytes = 0;
  constructor(capacity = 1024) {
    this.capacity = capacity;
    this.addr = new Float64Array(capacity);
    this.len = new Uint32Array(capacity);
  }
  get inCount() {
    return this.count - this.outCount;
  }
  reset() {
    this.id = 0;
    this.ringDescs = 0;
    this.indirect = false;
    this.count = 0;
    this.outCount = 0;
    this.outBytes = 0;
    this.inBytes = 0;
  }
  /** Append a segment; returns false when the chain is full. Readable segments must come first. */
  push(addr, len, writable2) {
    const n = this.count;
    if (n >= this.capacity) return false;
    this.addr[n] = addr;
    this.len[n] = len;
    this.count = n + 1;
    if (writable2) this.inBytes += len;
    else {
      this.outCount++;
      this.outBytes += len;
    }
    return true;
  }
  copyFrom(o) {
    this.id = o.id;
    this.ringDescs = o.ringDescs;
    this.indirect = o.indirect;
    this.count = o.count;
    this.outCount = o.outCount;
    this.outBytes = o.outBytes;
    this.inBytes = o.inBytes;
    this.addr.set(o.addr.subarray(0, o.count));
    this.len.set(o.len.subarray(0, o.count));
  }
};
var Used = class {
  id = 0;
  len = 0;
  /** The caller's token given to `add` for this chain (e.g. the guest head it shadows). */
  token = 0;
};

// src/ring/common.ts
var DESC_SIZE = 16;
var MAX_INDIRECT = 268435455;
function vringNeedEvent(event, newIdx, old) {
  return (newIdx - event - 1 & 65535) < (newIdx - old & 65535);
}
function resolveArea(space, addr, size) {
  if (!Number.isSafeInteger(addr) || addr < 0) return void 0;
  const r = space.find(addr, size);
  return r === void 0 ? void 0 : { view: new DataView(r.buffer, r.offset + (addr - r.base), size), addr };
}
function resolveIndirectArea(space, config, ia, fail4) {
  if (ia === void 0 || !config.indirect) return void 0;
  if (ia.addr % 16 !== 0) return fail4("ring-misaligned", `indirect area 0x${ia.addr.toString(16)} is not 16-byte aligned`);
  const area = resolveArea(space, ia.addr, ia.size);
  if (area === void 0) return fail4("ring-unmapped", `indirect area 0x${ia.addr.toString(16)} (+${ia.size}) is not in ${space.name}`);
  const cap = Math.floor(ia.size / (config.size * DESC_SIZE));
  return cap >= 1 ? { area, cap: Math.min(cap, MAX_INDIRECT) } : void 0;
}
var isPowerOfTwo = (n) => Number.isInteger(n) && n > 0 && (n & n - 1) === 0;
var validQueueSize = (n, powerOfTwo) => Number.isInteger(n) && n >= 1 && n <= MAX_QUEUE_SIZE && (!powerOfTwo || isPowerOfTwo(n));
function takeSegment(space, out, addr, len, flags) {
  if (addr < 0 || !space.contains(addr, len)) return "buffer-unmapped";
  const writable2 = (flags & VRING_DESC_F_WRITE) !== 0;
  if (!writable2 && out.count !== out.outCount) return "readable-after-writable";
  if (out.outBytes + out.inBytes + len > 4294967295) return "length-overflow";
  if (!out.push(addr, len, writable2)) return "chain-too-long";
  return void 0;
}

// src/ring/packed.ts
var D_LEN = 8;
var D_ID = 12;
var D_FLAGS = 14;
var EV_OFF_WRAP = 0;
var EV_FLAGS = 2;
var WRAP_BIT = 1 << VRING_PACKED_EVENT_F_WRAP_CTR;
var AVAIL_USED = VRING_PACKED_DESC_F_AVAIL | VRING_PACKED_DESC_F_USED;
function packedLayoutOf(num) {
  return {
    desc: { size: DESC_SIZE * num, align: 16 },
    driver: { size: 4, align: 4 },
    device: { size: 4, align: 4 }
  };
}
var fail = (rule, message, index) => ringError("packed", rule, message, index);
function resolveAreas(space, config) {
  const n = config.size;
  if (config.layout !== "packed" || !validQueueSize(n, false)) return fail("bad-queue-size", `packed queue size ${n} is not in 1..32768`);
  const { desc, driver, device } = config.addrs;
  if (desc % 16 !== 0 || driver % 4 !== 0 || device % 4 !== 0) {
    return fail("ring-misaligned", `packed ring areas desc 0x${desc.toString(16)} driver 0x${driver.toString(16)} device 0x${device.toString(16)} break alignment 16/4/4`);
  }
  const d = resolveArea(space, desc, DESC_SIZE * n);
  if (d === void 0) return fail("ring-unmapped", `descriptor ring at 0x${desc.toString(16)} (+${DESC_SIZE * n}) is not in ${space.name}`);
  const dr = resolveArea(space, driver, 4);
  if (dr === void 0) return fail("ring-unmapped", `driver event area at 0x${driver.toString(16)} is not in ${space.name}`);
  const de = resolveArea(space, device, 4);
  if (de === void 0) return fail("ring-unmapped", `device event area at 0x${device.toString(16)} is not in ${space.name}`);
  return { desc: d, driver: dr, device: de };
}
function packedNeedEvent(offWrap, pos, wrap, moved, num) {
  if (moved >= num) return true;
  let event = offWrap & ~WRAP_BIT & 65535;
  if (offWrap >>> VRING_PACKED_EVENT_F_WRAP_CTR !== (wrap ? 1 : 0)) event -= num;
  return vringNeedEvent(event, pos, pos - moved);
}
var PackedDriver = class {
  freeId = 0;
  flight = 0;
  nextAvail = 0;
  availWrap = true;
  nextUsed = 0;
  usedWrap = true;
  /** Slots made available since the last kick decision. */
  addedSince = 0;
  /** What we last wrote into the driver area's flags (Linux `event_flags_shadow`). */
  eventFlags = VRING_PACKED_EVENT_FLAG_ENABLE;
  indAddr = 0;
  indCap = 0;
  constructor(config, areas, ind) {
    this.config = config;
    const n = config.size;
    this.num = n;
    this.eventIdx = config.eventIdx;
    this.descView = areas.desc.view;
    this.drvView = areas.driver.view;
    this.devView = areas.device.view;
    this.idNext = new Uint16Array(n);
    for (let i = 0; i < n - 1; i++) this.idNext[i] = i + 1;
    this.token = new Float64Array(n);
    this.ndescs = new Uint16Array(n);
    this.inLen = new Uint32Array(n);
    this.free = n;
    if (ind !== void 0) {
      this.indView = ind.area.view;
      this.indAddr = ind.area.addr;
      this.indCap = ind.cap;
    } else {
      this.indView = void 0;
    }
    new Uint8Array(this.descView.buffer, this.descView.byteOffset, this.descView.byteLength).fill(0);
    this.drvView.setUint32(0, 0, true);
    this.devView.setUint32(0, 0, true);
  }
  numFree() {
    return this.free;
  }
  inFlight() {
    return this.flight;
  }
  /**
   * §2.8.21: write the chain tail-first, every descriptor carrying the buffer id and the AVAIL/USED
   * bits of the lap its slot falls in; the head's flags are stored last and publish the whole chain.
   * The common case (a direct chain that fits) stays small enough for V8 to inline into the caller;
   * indirect chains and refusals take `addSlow`.
   */
  add(chain4, token, useIndirect = false) {
    const count = chain4.count;
    if (useIndirect || count === 0 || count > this.free || chain4.outBytes + chain4.inBytes > 4294967295) return this.addSlow(chain4, token, useIndirect);
    const id = this.freeId;
    this.publish(id, this.writeDirect(chain4, id), count, token, chain4.inBytes);
    return id;
  }
  /** Write `chain` from the avail position, all but the head's flags; returns the head's flags. */
  writeDirect(chain4, id) {
    const NEXT = 1;
    const WRITE = 2;
    const AVAIL = 128;
    const USED = 32768;
    const n = this.num;
    const dv = this.descView;
    const head = this.nextAvail;
    const wrap = this.availWrap;
    const outCount = chain4.outCount;
    const addrs = chain4.addr;
    const lens = chain4.len;
    const last = chain4.count - 1;
    let headFlags = 0;
    for (let k = last; k >= 0; k--) {
      let s = head + k;
      let w = wrap;
      if (s >= n) {
        s -= n;
        w = !w;
      }
      const o = s * DESC_SIZE;
      const a = addrs[k];
      dv.setUint32(o, a >>> 0, true);
      dv.setUint32(o + 4, a * 23283064365386963e-26 >>> 0, true);
      dv.setUint32(o + D_LEN, lens[k], true);
      dv.setUint16(o + D_ID, id, true);
      const f = (k >= outCount ? WRITE : 0) | (k < last ? NEXT : 0) | (w ? AVAIL : USED);
      if (k === 0) headFlags = f;
      else dv.setUint16(o + D_FLAGS, f, true);
    }
    return headFlags;
  }
  /** (write barrier) store the head's flags, which makes the chain available; record buffer `id`. */
  publish(id, headFlags, need, token, inBytes) {
    const n = this.num;
    const head = this.nextAvail;
    this.descView.setUint16(head * DESC_SIZE + D_FLAGS, headFlags, true);
    let s = head + need;
    if (s >= n) {
      s -= n;
      this.availWrap = !this.availWrap;
    }
    this.nextAvail = s;
    this.addedSince += need;
    this.free -= need;
    this.flight++;
    this.freeId = this.idNext[id];
    this.token[id] = token;
    this.ndescs[id] = need;
    this.inLen[id] = inBytes;
  }
  addSlow(chain4, token, useIndirect) {
    const count = chain4.count;
    if (count === 0) return fail("empty-chain", "a chain needs at least one buffer");
    if (chain4.outBytes + chain4.inBytes > 4294967295) return fail("length-overflow", `chain of ${chain4.outBytes + chain4.inBytes} bytes overflows u32`);
    const indirect = useIndirect && this.indView !== void 0 && count <= this.indCap;
    const need = indirect ? 1 : count;
    if (this.free < need) return fail("no-space", `chain needs ${need} descriptors, ${this.free} free`);
    const id = this.freeId;
    if (!indirect) {
      this.publish(id, this.writeDirect(chain4, id), count, token, chain4.inBytes);
      return id;
    }
    const tv = this.indView;
    const tOff = id * this.indCap * DESC_SIZE;
    const outCount = chain4.outCount;
    for (let k = 0; k < count; k++) {
      const o2 = tOff + k * DESC_SIZE;
      setU64(tv, o2, chain4.addr[k]);
      tv.setUint32(o2 + D_LEN, chain4.len[k], true);
      tv.setUint16(o2 + D_ID, 0, true);
      tv.setUint16(o2 + D_FLAGS, k >= outCount ? VRING_DESC_F_WRITE : 0, true);
    }
    const dv = this.descView;
    const o = this.nextAvail * DESC_SIZE;
    setU64(dv, o, this.indAddr + id * this.indCap * DESC_SIZE);
    dv.setUint32(o + D_LEN, count * DESC_SIZE, true);
    dv.setUint16(o + D_ID, id, true);
    this.publish(id, VRING_DESC_F_INDIRECT | (this.availWrap ? VRING_PACKED_DESC_F_AVAIL : VRING_PACKED_DESC_F_USED), 1, token, chain4.inBytes);
    return id;
  }
  /** §2.8.10 from the driver's side: the device's event suppression area decides. */
  kickNeeded() {
    const moved = this.addedSince;
    if (moved === 0) return false;
    this.addedSince = 0;
    const flags = this.devView.getUint16(EV_FLAGS, true);
    if (flags === VRING_PACKED_EVENT_FLAG_DESC && this.eventIdx) {
      return packedNeedEvent(this.devView.getUint16(EV_OFF_WRAP, true), this.nextAvail, this.availWrap, moved, this.num);
    }
    return flags !== VRING_PACKED_EVENT_FLAG_DISABLE;
  }
  /** §2.8.7: the slot at our used position holds a used descriptor when AVAIL = USED = our used wrap. */
  reap(out) {
    const dv = this.descView;
    const o = this.nextUsed * DESC_SIZE;
    const flags = dv.getUint16(o + D_FLAGS, true);
    const fl = flags & AVAIL_USED;
    if (fl !== (this.usedWrap ? AVAIL_USED : 0)) return false;
    const id = dv.getUint16(o + D_ID, true);
    const len = dv.getUint32(o + D_LEN, true);
    if (id >= this.num || this.ndescs[id] === 0 || len > this.inLen[id]) return this.reapError(id, len);
    this.release(id);
    out.id = id;
    out.len = len;
    out.token = this.token[id];
    if (this.eventFlags === VRING_PACKED_EVENT_FLAG_DESC) this.writeUsedEvent();
    return true;
  }
  /** The rule a used descriptor (id, len) breaks; only called when one does. */
  reapError(id, len) {
    if (id >= this.num) return fail("used-id-out-of-range", `used id ${id} >= queue size ${this.num}`, id);
    if (this.ndescs[id] === 0) return fail("used-id-not-in-flight", `used id ${id} is not a buffer in flight`, id);
    return fail("used-len-too-large", `used len ${len} > ${this.inLen[id]} writable bytes of buffer ${id}`, id);
  }
  /** Skip the slots buffer `id` took and return the id to the driver's free list. */
  release(id) {
    const nd = this.ndescs[id];
    let s = this.nextUsed + nd;
    if (s >= this.num) {
      s -= this.num;
      this.usedWrap = !this.usedWrap;
    }
    this.nextUsed = s;
    this.free += nd;
    this.flight--;
    this.ndescs[id] = 0;
    this.idNext[id] = this.freeId;
    this.freeId = id;
  }
  writeUsedEvent() {
    this.drvView.setUint16(EV_OFF_WRAP, this.nextUsed | (this.usedWrap ? WRAP_BIT : 0), true);
  }
  /**
   * A burst of one-segment chains (§2.8.21.2, Linux virtqueue_add_packed per buffer): every descriptor
   * written with its flags except the first one's, which (write barrier) is stored last and makes the
   * whole burst available at once, as DPDK's packed burst enqueue does.
   */
  addBatch(batch) {
    const want = Math.min(batch.count, batch.capacity);
    if (want <= 0) return 0;
    const free = this.free;
    if (free === 0) return fail("no-space", `chain needs 1 descriptors, 0 free`);
    const m = want < free ? want : free;
    const LEN = 8;
    const ID = 12;
    const FLAGS = 14;
    const WRITE = 2;
    const AVAIL = 128;
    const USED = 32768;
    const n = this.num;
    const dv = this.descView;
    const idNext = this.idNext;
    const token = this.token;
    const ndescs = this.ndescs;
    const inLen = this.inLen;
    const addrs = batch.addr;
    const lens = batch.len;
    const writable2 = batch.writable;
    const tokens = batch.token;
    const ids = batch.id;
    const first = this.nextAvail;
    let s = first;
    let wrap = this.availWrap;
    let id = this.freeId;
    let firstFlags = 0;
    for (let k = 0; k < m; k++) {
      const o = s * 16;
      const a = addrs[k];
      const l = lens[k];
      const w = writable2[k] !== 0;
      dv.setUint32(o, a >>> 0, true);
      dv.setUint32(o + 4, a * 23283064365386963e-26 >>> 0, true);
      dv.setUint32(o + LEN, l, true);
      dv.setUint16(o + ID, id, true);
      const f = (w ? WRITE : 0) | (wrap ? AVAIL : USED);
      if (k === 0) firstFlags = f;
      else dv.setUint16(o + FLAGS, f, true);
      token[id] = tokens[k];
      ndescs[id] = 1;
      inLen[id] = w ? l : 0;
      ids[k] = id;
      id = idNext[id];
      if (++s === n) {
        s = 0;
        wrap = !wrap;
      }
    }
    dv.setUint16(first * 16 + FLAGS, firstFlags, true);
    this.nextAvail = s;
    this.availWrap = wrap;
    this.freeId = id;
    this.addedSince += m;
    this.free = free - m;
    this.flight += m;
    return m;
  }
  /** A burst of `reap`s; in DESC mode off_wrap is written once, after the last element. */
  reapBatch(out) {
    const LEN = 8;
    const ID = 12;
    const FLAGS = 14;
    const AU = 32896;
    const dv = this.descView;
    const cap = out.capacity;
    const n = this.num;
    const ndescs = this.ndescs;
    const inLen = this.inLen;
    const token = this.token;
    let k = 0;
    while (k < cap) {
      const o = this.nextUsed * 16;
      if ((dv.getUint16(o + FLAGS, true) & AU) !== (this.usedWrap ? AU : 0)) break;
      const id = dv.getUint16(o + ID, true);
      const len = dv.getUint32(o + LEN, true);
      if (id >= n || ndescs[id] === 0 || len > inLen[id]) {
        if (k === 0) {
          out.count = 0;
          return this.reapError(id, len);
        }
        break;
      }
      this.release(id);
      out.id[k] = id;
      out.len[k] = len;
      out.token[k] = token[id];
      k++;
    }
    out.count = k;
    if (k !== 0 && this.eventFlags === VRING_PACKED_EVENT_FLAG_DESC) this.writeUsedEvent();
    return k;
  }
  disableCalls() {
    this.eventFlags = VRING_PACKED_EVENT_FLAG_DISABLE;
    this.drvView.setUint16(EV_FLAGS, VRING_PACKED_EVENT_FLAG_DISABLE, true);
  }
  /** Linux virtqueue_enable_cb_prepare_packed + virtqueue_poll: DESC at our used position, or ENABLE. */
  enableCalls() {
    if (this.eventIdx) {
      this.drvView.setUint16(EV_OFF_WRAP, this.nextUsed | (this.usedWrap ? WRAP_BIT : 0), true);
      this.eventFlags = VRING_PACKED_EVENT_FLAG_DESC;
    } else {
      this.eventFlags = VRING_PACKED_EVENT_FLAG_ENABLE;
    }
    this.drvView.setUint16(EV_FLAGS, this.eventFlags, true);
    const flags = this.descView.getUint16(this.nextUsed * DESC_SIZE + D_FLAGS, true);
    return (flags & AVAIL_USED) === (this.usedWrap ? AVAIL_USED : 0);
  }
  inFlightTokens() {
    const out = [];
    for (let i = 0; i < this.num; i++) if (this.ndescs[i] !== 0) out.push(this.token[i]);
    return out;
  }
  base() {
    return { availIdx: this.nextAvail, availWrap: this.availWrap, usedIdx: this.nextUsed, usedWrap: this.usedWrap };
  }
};
var PackedDevice = class {
  nextAvail = 0;
  availWrap = true;
  nextUsed = 0;
  usedWrap = true;
  /** Slots marked used since the last call decision. */
  pushedSince = 0;
  /** What we last wrote into the device area's flags. */
  eventFlags = VRING_PACKED_EVENT_FLAG_ENABLE;
  constructor(space, config, areas) {
    this.space = space;
    this.config = config;
    this.num = config.size;
    this.eventIdx = config.eventIdx;
    this.indirectOk = config.indirect;
    this.descView = areas.desc.view;
    this.descAddr = areas.desc.addr;
    this.drvView = areas.driver.view;
    this.devView = areas.device.view;
    this.devAddr = areas.device.addr;
  }
  hasAvail() {
    const f = this.descView.getUint16(this.nextAvail * DESC_SIZE + D_FLAGS, true) & AVAIL_USED;
    return f === (this.availWrap ? VRING_PACKED_DESC_F_AVAIL : VRING_PACKED_DESC_F_USED);
  }
  /**
   * §2.8.6, §2.8.17 (QEMU virtqueue_packed_pop): the head at our avail position is available when its
   * AVAIL bit is our wrap counter and its USED bit is not; follow NEXT through the ring (the buffer id
   * is in the last descriptor) or one indirect table. On a violated rule nothing is consumed.
   */
  pop(out) {
    const r = this.walk(out);
    if (r !== true) return r;
    if (this.eventFlags === VRING_PACKED_EVENT_FLAG_DESC) this.writeEvent(this.nextAvail | (this.availWrap ? WRAP_BIT : 0), -1);
    return true;
  }
  /** A burst of `pop`s (DPDK rte_vhost_dequeue_burst); in DESC mode off_wrap is written once, after the last chain. */
  popBatch(out) {
    const chains = out.chains;
    const cap = chains.length;
    const ids = out.id;
    const ringDescs = out.ringDescs;
    const inBytes = out.inBytes;
    let k = 0;
    while (k < cap) {
      const c = chains[k];
      const r = this.walk(c);
      if (r !== true) {
        if (r !== false && k === 0) {
          out.count = 0;
          return r;
        }
        break;
      }
      ids[k] = c.id;
      ringDescs[k] = c.ringDescs;
      inBytes[k] = c.inBytes;
      k++;
    }
    out.count = k;
    if (k !== 0 && this.eventFlags === VRING_PACKED_EVENT_FLAG_DESC) this.writeEvent(this.nextAvail | (this.availWrap ? WRAP_BIT : 0), -1);
    return k;
  }
  /** Flatten the chain at our avail position into `out` and move past it; false when none is available. */
  walk(out) {
    const n = this.num;
    const dv = this.descView;
    const head = this.nextAvail;
    let o = head * DESC_SIZE;
    let flags = dv.getUint16(o + D_FLAGS, true);
    if ((flags & AVAIL_USED) !== (this.availWrap ? VRING_PACKED_DESC_F_AVAIL : VRING_PACKED_DESC_F_USED)) return false;
    out.reset();
    const space = this.space;
    let s = head;
    let cnt = 0;
    let id;
    for (; ; ) {
      const addr = getU64(dv, o);
      const len = dv.getUint32(o + D_LEN, true);
      id = dv.getUint16(o + D_ID, true);
      cnt++;
      if ((flags & VRING_DESC_F_INDIRECT) !== 0) {
        const r = this.indirectTable(out, s, addr, len, flags);
        if (r !== void 0) return r;
        break;
      }
      const rule = takeSegment(space, out, addr, len, flags);
      if (rule !== void 0) return fail(rule, `descriptor at slot ${s}: ${rule} (addr 0x${addr.toString(16)}, len ${len})`, s);
      if ((flags & VRING_DESC_F_NEXT) === 0) break;
      if (cnt >= n) return fail("packed-chain-unterminated", `chain at slot ${head} runs past ${n} descriptors`, head);
      if (++s === n) s = 0;
      o = s * DESC_SIZE;
      flags = dv.getUint16(o + D_FLAGS, true);
    }
    if (id >= n) return fail("packed-id-out-of-range", `buffer id ${id} >= queue size ${n}`, id);
    out.id = id;
    out.ringDescs = cnt;
    let next = head + cnt;
    if (next >= n) {
      next -= n;
      this.availWrap = !this.availWrap;
    }
    this.nextAvail = next;
    return true;
  }
  /** §2.8.19–20: one indirect table; its entries are used in sequence, WRITE is their only flag. */
  indirectTable(out, s, addr, len, flags) {
    if (!this.indirectOk) return fail("indirect-not-negotiated", `descriptor at slot ${s} is INDIRECT but VIRTIO_F_INDIRECT_DESC was not negotiated`, s);
    if ((flags & VRING_DESC_F_NEXT) !== 0) return fail("indirect-next", `descriptor at slot ${s} has both INDIRECT and NEXT`, s);
    if (len === 0) return fail("zero-length", `indirect descriptor at slot ${s} has an empty table`, s);
    if (len % DESC_SIZE !== 0) return fail("indirect-len", `indirect table length ${len} at slot ${s} is not a multiple of 16`, s);
    const r = addr < 0 ? void 0 : this.space.find(addr, len);
    if (r === void 0) return fail("buffer-unmapped", `indirect table at slot ${s} (0x${addr.toString(16)}, +${len}) is unmapped`, s);
    out.indirect = true;
    const tv = r.view;
    const tOff = addr - r.base;
    const entries = len / DESC_SIZE;
    const space = this.space;
    for (let j = 0; j < entries; j++) {
      const o = tOff + j * DESC_SIZE;
      const f = tv.getUint16(o + D_FLAGS, true);
      if ((f & VRING_DESC_F_INDIRECT) !== 0) return fail("indirect-nested", `entry ${j} of the indirect table at slot ${s} is INDIRECT`, j);
      const a = getU64(tv, o);
      const l = tv.getUint32(o + D_LEN, true);
      const rule = takeSegment(space, out, a, l, f & VRING_DESC_F_WRITE);
      if (rule !== void 0) return fail(rule, `indirect entry ${j} at slot ${s}: ${rule} (addr 0x${a.toString(16)}, len ${l})`, j);
    }
    return void 0;
  }
  /**
   * §2.8.7: write the used descriptor (len, id, then flags with AVAIL = USED = our used wrap counter) at
   * our used position and skip the `ringDescs` slots the chain took. The write goes to the dirty log.
   */
  push(id, ringDescs, len) {
    const n = this.num;
    if (!(id >= 0 && id < n) || !(ringDescs >= 1 && ringDescs <= n)) return this.pushError(id, ringDescs);
    const dv = this.descView;
    const slot = this.nextUsed;
    const o = slot * DESC_SIZE;
    dv.setUint32(o + D_LEN, len >>> 0, true);
    dv.setUint16(o + D_ID, id, true);
    dv.setUint16(o + D_FLAGS, this.usedWrap ? 32896 : 0, true);
    this.space.noteWrite(this.descAddr + slot * DESC_SIZE + D_LEN, DESC_SIZE - D_LEN);
    let next = slot + ringDescs;
    if (next >= n) {
      next -= n;
      this.usedWrap = !this.usedWrap;
    }
    this.nextUsed = next;
    this.pushedSince += ringDescs;
    return void 0;
  }
  /**
   * A burst of `push`es (vhost_add_used_n_packed, DPDK's packed burst enqueue): each used descriptor's
   * len and id, its flags for all but the first, then (write barrier) the first one's flags, which
   * publishes the burst. Each descriptor goes to the dirty log as `push` logs it.
   */
  pushBatch(ids, ringDescs, lens, n) {
    const m = Math.min(n, ids.length, ringDescs.length, lens.length);
    if (!(m > 0)) return 0;
    const LEN = 8;
    const ID = 12;
    const FLAGS = 14;
    const num = this.num;
    const dv = this.descView;
    const space = this.space;
    const descAddr = this.descAddr;
    const first = this.nextUsed;
    let slot = first;
    let wrap = this.usedWrap;
    let firstFlags = 0;
    let moved = 0;
    let k = 0;
    for (; k < m; k++) {
      const id = ids[k];
      const nd = ringDescs[k];
      if (!(id >= 0 && id < num) || !(nd >= 1 && nd <= num)) {
        if (k === 0) return this.pushError(id, nd);
        break;
      }
      const o = slot * 16;
      dv.setUint32(o + LEN, lens[k] >>> 0, true);
      dv.setUint16(o + ID, id, true);
      const f = wrap ? 32896 : 0;
      if (k === 0) firstFlags = f;
      else {
        dv.setUint16(o + FLAGS, f, true);
        space.noteWrite(descAddr + o + LEN, 16 - LEN);
      }
      slot += nd;
      if (slot >= num) {
        slot -= num;
        wrap = !wrap;
      }
      moved += nd;
    }
    dv.setUint16(first * 16 + FLAGS, firstFlags, true);
    space.noteWrite(descAddr + first * 16 + LEN, 16 - LEN);
    this.nextUsed = slot;
    this.usedWrap = wrap;
    this.pushedSince += moved;
    return k;
  }
  pushError(id, ringDescs) {
    const n = this.num;
    if (!(id >= 0 && id < n)) return fail("packed-id-out-of-range", `used buffer id ${id} >= queue size ${n}`, id);
    return fail("desc-index-out-of-range", `chain of ${ringDescs} descriptors does not fit a ring of ${n}`, ringDescs);
  }
  /** §2.8.10 from the device's side: the driver's event suppression area decides. */
  callNeeded() {
    const moved = this.pushedSince;
    if (moved === 0) return false;
    this.pushedSince = 0;
    const flags = this.drvView.getUint16(EV_FLAGS, true);
    if (flags === VRING_PACKED_EVENT_FLAG_DESC && this.eventIdx) {
      return packedNeedEvent(this.drvView.getUint16(EV_OFF_WRAP, true), this.nextUsed, this.usedWrap, moved, this.num);
    }
    return flags !== VRING_PACKED_EVENT_FLAG_DISABLE;
  }
  disableKicks() {
    this.eventFlags = VRING_PACKED_EVENT_FLAG_DISABLE;
    this.writeEvent(-1, VRING_PACKED_EVENT_FLAG_DISABLE);
  }
  /** QEMU virtio_queue_packed_set_notification: DESC at our avail position with EVENT_IDX, else ENABLE. */
  enableKicks() {
    this.eventFlags = this.eventIdx ? VRING_PACKED_EVENT_FLAG_DESC : VRING_PACKED_EVENT_FLAG_ENABLE;
    this.writeEvent(this.eventIdx ? this.nextAvail | (this.availWrap ? WRAP_BIT : 0) : -1, this.eventFlags);
    return this.hasAvail();
  }
  base() {
    return { availIdx: this.nextAvail, availWrap: this.availWrap, usedIdx: this.nextUsed, usedWrap: this.usedWrap };
  }
  setBase(base) {
    const avail = base.availIdx & 32767;
    const used = base.usedIdx & 32767;
    if (avail >= this.num || used >= this.num) {
      return fail("bad-base", `vring base avail ${avail} / used ${used} is outside a packed ring of ${this.num}`, avail >= this.num ? avail : used);
    }
    this.nextAvail = avail;
    this.availWrap = base.availWrap;
    this.nextUsed = used;
    this.usedWrap = base.usedWrap;
    this.pushedSince = 0;
    return void 0;
  }
  /** Write the device area's off_wrap and/or flags (−1 leaves a field alone), off_wrap first. */
  writeEvent(offWrap, flags) {
    const v = this.devView;
    if (offWrap >= 0) {
      v.setUint16(EV_OFF_WRAP, offWrap, true);
      this.space.noteWrite(this.devAddr + EV_OFF_WRAP, 2);
    }
    if (flags >= 0) {
      v.setUint16(EV_FLAGS, flags, true);
      this.space.noteWrite(this.devAddr + EV_FLAGS, 2);
    }
  }
};
var packedRing = {
  driver(space, config, opts) {
    const areas = resolveAreas(space, config);
    if ("_tag" in areas) return areas;
    const ind = resolveIndirectArea(space, config, opts?.indirectArea, fail);
    if (ind !== void 0 && "_tag" in ind) return ind;
    return new PackedDriver(config, areas, ind);
  },
  device(space, config) {
    const areas = resolveAreas(space, config);
    if ("_tag" in areas) return areas;
    return new PackedDevice(space, config, areas);
  },
  layoutOf: packedLayoutOf
};

// src/ring/split.ts
var RING_FLAGS = 0;
var RING_IDX = 2;
var RING_ENTRIES = 4;
var USED_ELEM_SIZE = 8;
function splitLayoutOf(num) {
  return {
    desc: { size: DESC_SIZE * num, align: 16 },
    driver: { size: 6 + 2 * num, align: 2 },
    device: { size: 6 + USED_ELEM_SIZE * num, align: 4 }
  };
}
var fail2 = (rule, message, index) => ringError("split", rule, message, index);
function resolveAreas2(space, config) {
  const n = config.size;
  if (config.layout !== "split" || !validQueueSize(n, true)) {
    return fail2("bad-queue-size", `split queue size ${n} is not a power of two in 1..32768`);
  }
  const lay = splitLayoutOf(n);
  const { desc, driver, device } = config.addrs;
  if (desc % lay.desc.align !== 0 || driver % lay.driver.align !== 0 || device % lay.device.align !== 0) {
    return fail2("ring-misaligned", `split ring areas desc 0x${desc.toString(16)} avail 0x${driver.toString(16)} used 0x${device.toString(16)} break alignment 16/2/4`);
  }
  const d = resolveArea(space, desc, lay.desc.size);
  if (d === void 0) return fail2("ring-unmapped", `descriptor table at 0x${desc.toString(16)} (+${lay.desc.size}) is not in ${space.name}`);
  const a = resolveArea(space, driver, lay.driver.size);
  if (a === void 0) return fail2("ring-unmapped", `avail ring at 0x${driver.toString(16)} (+${lay.driver.size}) is not in ${space.name}`);
  const u = resolveArea(space, device, lay.device.size);
  if (u === void 0) return fail2("ring-unmapped", `used ring at 0x${device.toString(16)} (+${lay.device.size}) is not in ${space.name}`);
  return { desc: d, avail: a, used: u };
}
var SplitDriver = class {
  freeHead = 0;
  flight = 0;
  /** Our copy of avail->idx (`shadow_avail_idx`) and of the avail idx at the last kick decision. */
  availIdx = 0;
  kickedIdx = 0;
  /** Next used entry to reap (`last_used_idx`). */
  lastUsed = 0;
  callsOn = true;
  indAddr = 0;
  indCap = 0;
  constructor(config, areas, ind) {
    this.config = config;
    const n = config.size;
    this.num = n;
    this.mask = n - 1;
    this.eventIdx = config.eventIdx;
    this.descView = areas.desc.view;
    this.availView = areas.avail.view;
    this.usedView = areas.used.view;
    this.descNext = new Uint16Array(n);
    for (let i = 0; i < n - 1; i++) this.descNext[i] = i + 1;
    this.token = new Float64Array(n);
    this.ndescs = new Uint16Array(n);
    this.inLen = new Uint32Array(n);
    this.free = n;
    if (ind !== void 0) {
      this.indView = ind.area.view;
      this.indAddr = ind.area.addr;
      this.indCap = ind.cap;
    } else {
      this.indView = void 0;
    }
    new Uint8Array(this.descView.buffer, this.descView.byteOffset, this.descView.byteLength).fill(0);
    new Uint8Array(this.availView.buffer, this.availView.byteOffset, this.availView.byteLength).fill(0);
    new Uint8Array(this.usedView.buffer, this.usedView.byteOffset, this.usedView.byteLength).fill(0);
  }
  numFree() {
    return this.free;
  }
  inFlight() {
    return this.flight;
  }
  /**
   * §2.7.13: write the chain's descriptors, then the head into avail->ring, then publish avail->idx.
   * The common case (a direct chain that fits) stays small enough for V8 to inline into the caller;
   * indirect chains and refusals take `addSlow`.
   */
  add(chain4, token, useIndirect = false) {
    const count = chain4.count;
    if (useIndirect || count === 0 || count > this.free || chain4.outBytes + chain4.inBytes > 4294967295) return this.addSlow(chain4, token, useIndirect);
    const head = this.freeHead;
    this.freeHead = this.writeDirect(chain4, head);
    return this.publish(head, count, token, chain4.inBytes);
  }
  /** Write `chain` on the free descriptors from `head`; returns the new free head. */
  writeDirect(chain4, head) {
    const NEXT = 1;
    const WRITE = 2;
    const dv = this.descView;
    const descNext = this.descNext;
    const outCount = chain4.outCount;
    const addrs = chain4.addr;
    const lens = chain4.len;
    const last = chain4.count - 1;
    let i = head;
    for (let k = 0; k <= last; k++) {
      const o = i * DESC_SIZE;
      const next = descNext[i];
      const a = addrs[k];
      dv.setUint32(o, a >>> 0, true);
      dv.setUint32(o + 4, a * 23283064365386963e-26 >>> 0, true);
      dv.setUint32(o + 8, lens[k], true);
      dv.setUint16(o + 12, (k >= outCount ? WRITE : 0) | (k < last ? NEXT : 0), true);
      dv.setUint16(o + 14, next, true);
      i = next;
    }
    return i;
  }
  /** Record the chain at `head` and make it available: avail->ring[idx], (write barrier), avail->idx. */
  publish(head, need, token, inBytes) {
    this.free -= need;
    this.flight++;
    this.token[head] = token;
    this.ndescs[head] = need;
    this.inLen[head] = inBytes;
    const av = this.availView;
    const idx = this.availIdx;
    av.setUint16(RING_ENTRIES + (idx & this.mask) * 2, head, true);
    const next = idx + 1 & 65535;
    av.setUint16(RING_IDX, next, true);
    this.availIdx = next;
    return head;
  }
  addSlow(chain4, token, useIndirect) {
    const count = chain4.count;
    if (count === 0) return fail2("empty-chain", "a chain needs at least one buffer");
    if (chain4.outBytes + chain4.inBytes > 4294967295) return fail2("length-overflow", `chain of ${chain4.outBytes + chain4.inBytes} bytes overflows u32`);
    const indirect = useIndirect && this.indView !== void 0 && count <= this.indCap;
    const need = indirect ? 1 : count;
    if (this.free < need) return fail2("no-space", `chain needs ${need} descriptors, ${this.free} free`);
    const head = this.freeHead;
    if (!indirect) {
      this.freeHead = this.writeDirect(chain4, head);
      return this.publish(head, count, token, chain4.inBytes);
    }
    const tv = this.indView;
    const tOff = head * this.indCap * DESC_SIZE;
    const outCount = chain4.outCount;
    const last = count - 1;
    for (let k = 0; k < count; k++) {
      const o2 = tOff + k * DESC_SIZE;
      setU64(tv, o2, chain4.addr[k]);
      tv.setUint32(o2 + 8, chain4.len[k], true);
      tv.setUint16(o2 + 12, (k >= outCount ? VRING_DESC_F_WRITE : 0) | (k < last ? VRING_DESC_F_NEXT : 0), true);
      tv.setUint16(o2 + 14, k < last ? k + 1 : 0, true);
    }
    const dv = this.descView;
    const o = head * DESC_SIZE;
    const next = this.descNext[head];
    setU64(dv, o, this.indAddr + head * this.indCap * DESC_SIZE);
    dv.setUint32(o + 8, count * DESC_SIZE, true);
    dv.setUint16(o + 12, VRING_DESC_F_INDIRECT, true);
    dv.setUint16(o + 14, next, true);
    this.freeHead = next;
    return this.publish(head, 1, token, chain4.inBytes);
  }
  /** §2.7.10 / Linux virtqueue_kick_prepare_split: avail_event window, or the device's NO_NOTIFY flag. */
  kickNeeded() {
    const old = this.kickedIdx;
    const now = this.availIdx;
    if (old === now) return false;
    this.kickedIdx = now;
    const uv = this.usedView;
    if (this.eventIdx) return vringNeedEvent(uv.getUint16(RING_ENTRIES + this.num * USED_ELEM_SIZE, true), now, old);
    return (uv.getUint16(RING_FLAGS, true) & VRING_USED_F_NO_NOTIFY) === 0;
  }
  /** §2.7.14: take the next used element; reject ids out of range, heads not in flight, oversize lengths. */
  reap(out) {
    const uv = this.usedView;
    const last = this.lastUsed;
    if (uv.getUint16(RING_IDX, true) === last) return false;
    const e = RING_ENTRIES + (last & this.mask) * USED_ELEM_SIZE;
    const id = uv.getUint32(e, true);
    const len = uv.getUint32(e + 4, true);
    if (id >= this.num || this.ndescs[id] === 0 || len > this.inLen[id]) return this.reapError(id, len);
    this.release(id);
    out.id = id;
    out.len = len;
    out.token = this.token[id];
    const next = last + 1 & 65535;
    this.lastUsed = next;
    if (this.eventIdx) this.writeUsedEvent(next);
    return true;
  }
  /** The rule a used element (id, len) breaks; only called when one does. */
  reapError(id, len) {
    if (id >= this.num) return fail2("used-id-out-of-range", `used id ${id} >= queue size ${this.num}`, id);
    if (this.ndescs[id] === 0) return fail2("used-id-not-in-flight", `used id ${id} is not a head in flight`, id);
    return fail2("used-len-too-large", `used len ${len} > ${this.inLen[id]} writable bytes of head ${id}`, id);
  }
  /** Return the chain at head `id` to the free list through our own links (QEMU vhost_svq_last_desc_of_chain). */
  release(id) {
    const nd = this.ndescs[id];
    const descNext = this.descNext;
    let tail = id;
    for (let k = 1; k < nd; k++) tail = descNext[tail];
    descNext[tail] = this.freeHead;
    this.freeHead = id;
    this.free += nd;
    this.flight--;
    this.ndescs[id] = 0;
  }
  /**
   * With EVENT_IDX, ask for a call at used entry `next` (Linux virtqueue_get_buf_ctx_split); while calls
   * are disabled keep used_event one behind so the device's window never crosses it.
   */
  writeUsedEvent(next) {
    this.availView.setUint16(RING_ENTRIES + this.num * 2, this.callsOn ? next : next - 1 & 65535, true);
  }
  /**
   * A burst of one-segment chains (Linux virtqueue_add_split per buffer, one virtqueue_kick_prepare):
   * descriptors and avail->ring entries first, then (write barrier) avail->idx once (§2.7.13.3).
   */
  addBatch(batch) {
    const want = Math.min(batch.count, batch.capacity);
    if (want <= 0) return 0;
    const free = this.free;
    if (free === 0) return fail2("no-space", `chain needs 1 descriptors, 0 free`);
    const m = want < free ? want : free;
    const IDX = 2;
    const ENTRIES = 4;
    const WRITE = 2;
    const dv = this.descView;
    const av = this.availView;
    const descNext = this.descNext;
    const token = this.token;
    const ndescs = this.ndescs;
    const inLen = this.inLen;
    const mask = this.mask;
    const addrs = batch.addr;
    const lens = batch.len;
    const writable2 = batch.writable;
    const tokens = batch.token;
    const ids = batch.id;
    let head = this.freeHead;
    let idx = this.availIdx;
    for (let k = 0; k < m; k++) {
      const o = head * 16;
      const next = descNext[head];
      const a = addrs[k];
      const l = lens[k];
      const w = writable2[k] !== 0;
      dv.setUint32(o, a >>> 0, true);
      dv.setUint32(o + 4, a * 23283064365386963e-26 >>> 0, true);
      dv.setUint32(o + 8, l, true);
      dv.setUint16(o + 12, w ? WRITE : 0, true);
      dv.setUint16(o + 14, next, true);
      token[head] = tokens[k];
      ndescs[head] = 1;
      inLen[head] = w ? l : 0;
      ids[k] = head;
      av.setUint16(ENTRIES + (idx & mask) * 2, head, true);
      idx = idx + 1 & 65535;
      head = next;
    }
    av.setUint16(IDX, idx, true);
    this.availIdx = idx;
    this.freeHead = head;
    this.free = free - m;
    this.flight += m;
    return m;
  }
  /** A burst of `reap`s: used->idx read once, used_event written once after the last element. */
  reapBatch(out) {
    const IDX = 2;
    const ENTRIES = 4;
    const ELEM = 8;
    const uv = this.usedView;
    const end = uv.getUint16(IDX, true);
    let last = this.lastUsed;
    const cap = out.capacity;
    const n = this.num;
    const mask = this.mask;
    const ndescs = this.ndescs;
    const inLen = this.inLen;
    const token = this.token;
    let k = 0;
    while (last !== end && k < cap) {
      const e = ENTRIES + (last & mask) * ELEM;
      const id = uv.getUint32(e, true);
      const len = uv.getUint32(e + 4, true);
      if (id >= n || ndescs[id] === 0 || len > inLen[id]) {
        if (k === 0) return this.reapError(id, len);
        break;
      }
      this.release(id);
      out.id[k] = id;
      out.len[k] = len;
      out.token[k] = token[id];
      k++;
      last = last + 1 & 65535;
    }
    out.count = k;
    if (k === 0) return 0;
    this.lastUsed = last;
    if (this.eventIdx) this.writeUsedEvent(last);
    return k;
  }
  /** §2.7.7: VRING_AVAIL_F_NO_INTERRUPT, or (EVENT_IDX, flags must stay 0) used_event parked behind. */
  disableCalls() {
    this.callsOn = false;
    if (this.eventIdx) this.availView.setUint16(RING_ENTRIES + this.num * 2, this.lastUsed - 1 & 65535, true);
    else this.availView.setUint16(RING_FLAGS, VRING_AVAIL_F_NO_INTERRUPT, true);
  }
  /** Ask for calls again; true when used entries are already waiting (re-check, Linux virtqueue_enable_cb). */
  enableCalls() {
    this.callsOn = true;
    if (this.eventIdx) this.availView.setUint16(RING_ENTRIES + this.num * 2, this.lastUsed, true);
    else this.availView.setUint16(RING_FLAGS, 0, true);
    return this.usedView.getUint16(RING_IDX, true) !== this.lastUsed;
  }
  inFlightTokens() {
    const out = [];
    for (let i = 0; i < this.num; i++) if (this.ndescs[i] !== 0) out.push(this.token[i]);
    return out;
  }
  base() {
    return { availIdx: this.availIdx, availWrap: false, usedIdx: this.lastUsed, usedWrap: false };
  }
};
function popError(rule, index, other, n) {
  switch (rule) {
    case "avail-idx-ahead":
      return fail2(rule, `avail idx ${index} is ${index - other & 65535} ahead of last_avail_idx ${other} (num ${n})`, index);
    case "chain-loop":
      return fail2(rule, `chain of head ${index} is longer than the ring (${n})`, index);
    default:
      return fail2(rule, other < 0 ? `head ${index} >= queue size ${n}` : `next ${index} >= queue size ${n} in chain of head ${other}`, index);
  }
}
function segmentError(rule, i, head, addr, len) {
  return fail2(rule, `descriptor ${i} of head ${head}: ${rule} (addr 0x${addr.toString(16)}, len ${len})`, i);
}
var SplitDevice = class {
  /** `last_avail_idx`: next avail entry to pop. */
  lastAvail = 0;
  kicksOn = true;
  constructor(space, config, areas) {
    this.space = space;
    this.config = config;
    this.num = config.size;
    this.mask = config.size - 1;
    this.eventIdx = config.eventIdx;
    this.indirectOk = config.indirect;
    this.descView = areas.desc.view;
    this.availView = areas.avail.view;
    this.usedView = areas.used.view;
    this.usedAddr = areas.used.addr;
    this.usedIdx = this.usedView.getUint16(RING_IDX, true);
    this.signalledUsed = this.usedIdx;
  }
  hasAvail() {
    return this.availView.getUint16(RING_IDX, true) !== this.lastAvail;
  }
  /**
   * §2.7.13 from the device's side (vringh_getdesc, virtqueue_split_pop): read avail->idx, take the head
   * at last_avail_idx, flatten its chain (following one indirect table) into `out`. On a violated rule
   * nothing is consumed and the error names the rule.
   */
  pop(out) {
    const av = this.availView;
    const last = this.lastAvail;
    const idx = av.getUint16(RING_IDX, true);
    if (idx === last) return false;
    const n = this.num;
    if ((idx - last & 65535) > n) return popError("avail-idx-ahead", idx, last, n);
    const head = av.getUint16(RING_ENTRIES + (last & this.mask) * 2, true);
    if (head >= n) return popError("desc-index-out-of-range", head, -1, n);
    out.reset();
    out.id = head;
    const space = this.space;
    const dv = this.descView;
    let i = head;
    let ringDescs = 0;
    for (; ; ) {
      const o = i * DESC_SIZE;
      const addr = getU64(dv, o);
      const len = dv.getUint32(o + 8, true);
      const flags = dv.getUint16(o + 12, true);
      ringDescs++;
      if ((flags & VRING_DESC_F_INDIRECT) !== 0) {
        const r = this.indirectTable(out, i, addr, len, flags);
        if (r !== void 0) return r;
        break;
      }
      const rule = takeSegment(space, out, addr, len, flags);
      if (rule !== void 0) return segmentError(rule, i, head, addr, len);
      if ((flags & VRING_DESC_F_NEXT) === 0) break;
      i = dv.getUint16(o + 14, true);
      if (i >= n) return popError("desc-index-out-of-range", i, head, n);
      if (ringDescs >= n) return popError("chain-loop", head, head, n);
    }
    out.ringDescs = ringDescs;
    const next = last + 1 & 65535;
    this.lastAvail = next;
    if (this.eventIdx && this.kicksOn) this.writeAvailEvent(next);
    return true;
  }
  /**
   * A burst of `pop`s (vhost-net handle_tx's loop, DPDK rte_vhost_dequeue_burst), each exactly `pop`
   * (so V8 inlines the one chain walk into both), with each chain's id, ring descriptors and writable
   * bytes gathered into the batch's flat arrays for `pushBatch`.
   */
  popBatch(out) {
    const chains = out.chains;
    const cap = chains.length;
    const ids = out.id;
    const ringDescs = out.ringDescs;
    const inBytes = out.inBytes;
    let k = 0;
    while (k < cap) {
      const c = chains[k];
      const r = this.pop(c);
      if (r !== true) {
        if (r !== false && k === 0) {
          out.count = 0;
          return r;
        }
        break;
      }
      ids[k] = c.id;
      ringDescs[k] = c.ringDescs;
      inBytes[k] = c.inBytes;
      k++;
    }
    out.count = k;
    return k;
  }
  /** §2.7.5.3: one indirect table, the last descriptor of the ring chain. */
  indirectTable(out, i, addr, len, flags) {
    if (!this.indirectOk) return fail2("indirect-not-negotiated", `descriptor ${i} is INDIRECT but VIRTIO_F_INDIRECT_DESC was not negotiated`, i);
    if ((flags & VRING_DESC_F_NEXT) !== 0) return fail2("indirect-next", `descriptor ${i} has both INDIRECT and NEXT`, i);
    if (len === 0) return fail2("zero-length", `indirect descriptor ${i} has an empty table`, i);
    if (len % DESC_SIZE !== 0) return fail2("indirect-len", `indirect table length ${len} of descriptor ${i} is not a multiple of 16`, i);
    const r = addr < 0 ? void 0 : this.space.find(addr, len);
    if (r === void 0) return fail2("buffer-unmapped", `indirect table of descriptor ${i} at 0x${addr.toString(16)} (+${len}) is unmapped`, i);
    out.indirect = true;
    const tv = r.view;
    const tOff = addr - r.base;
    const entries = len / DESC_SIZE;
    const space = this.space;
    let j = 0;
    let seen = 0;
    for (; ; ) {
      const o = tOff + j * DESC_SIZE;
      const a = getU64(tv, o);
      const l = tv.getUint32(o + 8, true);
      const f = tv.getUint16(o + 12, true);
      seen++;
      if ((f & VRING_DESC_F_INDIRECT) !== 0) return fail2("indirect-nested", `entry ${j} of the indirect table of descriptor ${i} is INDIRECT`, j);
      const rule = takeSegment(space, out, a, l, f);
      if (rule !== void 0) return fail2(rule, `indirect entry ${j} of descriptor ${i}: ${rule} (addr 0x${a.toString(16)}, len ${l})`, j);
      if ((f & VRING_DESC_F_NEXT) === 0) return void 0;
      j = tv.getUint16(o + 14, true);
      if (j >= entries) return fail2("desc-index-out-of-range", `indirect next ${j} >= table size ${entries}`, j);
      if (seen >= entries) return fail2("chain-loop", `indirect chain of descriptor ${i} is longer than its table (${entries})`, i);
    }
  }
  /** §2.7.8: write the used element, then (write barrier) publish used->idx. Both writes go to the dirty log. */
  push(id, _ringDescs, len) {
    if (!(id >= 0 && id < this.num)) return fail2("desc-index-out-of-range", `used id ${id} >= queue size ${this.num}`, id);
    const uv = this.usedView;
    const idx = this.usedIdx;
    const slot = (idx & this.mask) * USED_ELEM_SIZE + RING_ENTRIES;
    uv.setUint32(slot, id, true);
    uv.setUint32(slot + 4, len >>> 0, true);
    const space = this.space;
    space.noteWrite(this.usedAddr + slot, USED_ELEM_SIZE);
    const next = idx + 1 & 65535;
    uv.setUint16(RING_IDX, next, true);
    space.noteWrite(this.usedAddr + RING_IDX, 2);
    this.usedIdx = next;
    return void 0;
  }
  /**
   * A burst of `push`es (vhost_add_used_n): the used elements, then (write barrier) used->idx once.
   * The dirty log gets the written element range(s) and used->idx, as the per-chain path logs them.
   */
  pushBatch(ids, _ringDescs, lens, n) {
    const m = Math.min(n, ids.length, lens.length);
    if (!(m > 0)) return 0;
    const IDX = 2;
    const ENTRIES = 4;
    const ELEM = 8;
    const num = this.num;
    const mask = this.mask;
    const uv = this.usedView;
    const start = this.usedIdx;
    let idx = start;
    let k = 0;
    for (; k < m; k++) {
      const id = ids[k];
      if (!(id >= 0 && id < num)) {
        if (k === 0) return fail2("desc-index-out-of-range", `used id ${id} >= queue size ${num}`, id);
        break;
      }
      const slot = (idx & mask) * ELEM + ENTRIES;
      uv.setUint32(slot, id, true);
      uv.setUint32(slot + 4, lens[k] >>> 0, true);
      idx = idx + 1 & 65535;
    }
    const space = this.space;
    const first = start & mask;
    const run = Math.min(k, num - first);
    space.noteWrite(this.usedAddr + RING_ENTRIES + first * USED_ELEM_SIZE, run * USED_ELEM_SIZE);
    if (run < k) space.noteWrite(this.usedAddr + RING_ENTRIES, (k - run) * USED_ELEM_SIZE);
    uv.setUint16(IDX, idx, true);
    space.noteWrite(this.usedAddr + RING_IDX, 2);
    this.usedIdx = idx;
    return k;
  }
  /** §2.7.10 / vhost_notify: used_event window with EVENT_IDX, else the driver's NO_INTERRUPT flag. */
  callNeeded() {
    const old = this.signalledUsed;
    const now = this.usedIdx;
    if (old === now) return false;
    this.signalledUsed = now;
    const av = this.availView;
    if (this.eventIdx) return vringNeedEvent(av.getUint16(RING_ENTRIES + this.num * 2, true), now, old);
    return (av.getUint16(RING_FLAGS, true) & VRING_AVAIL_F_NO_INTERRUPT) === 0;
  }
  /** §2.7.10: VRING_USED_F_NO_NOTIFY, or (EVENT_IDX) avail_event parked one behind last_avail_idx. */
  disableKicks() {
    this.kicksOn = false;
    if (this.eventIdx) this.writeAvailEvent(this.lastAvail - 1 & 65535);
    else this.writeUsedFlags(VRING_USED_F_NO_NOTIFY);
  }
  /** Ask for kicks again; true when chains are already available (vhost_enable_notify's re-check). */
  enableKicks() {
    this.kicksOn = true;
    if (this.eventIdx) this.writeAvailEvent(this.lastAvail);
    else this.writeUsedFlags(0);
    return this.hasAvail();
  }
  base() {
    return { availIdx: this.lastAvail, availWrap: false, usedIdx: this.usedIdx, usedWrap: false };
  }
  /** VHOST_SET_VRING_BASE: last_avail_idx from the base; the used idx is read from the ring (vhost). */
  setBase(base) {
    this.lastAvail = base.availIdx & 65535;
    this.usedIdx = this.usedView.getUint16(RING_IDX, true);
    this.signalledUsed = this.usedIdx;
    return void 0;
  }
  writeAvailEvent(v) {
    const o = RING_ENTRIES + this.num * USED_ELEM_SIZE;
    this.usedView.setUint16(o, v, true);
    this.space.noteWrite(this.usedAddr + o, 2);
  }
  writeUsedFlags(v) {
    this.usedView.setUint16(RING_FLAGS, v, true);
    this.space.noteWrite(this.usedAddr + RING_FLAGS, 2);
  }
};
var splitRing = {
  driver(space, config, opts) {
    const areas = resolveAreas2(space, config);
    if ("_tag" in areas) return areas;
    const ind = resolveIndirectArea(space, config, opts?.indirectArea, fail2);
    if (ind !== void 0 && "_tag" in ind) return ind;
    return new SplitDriver(config, areas, ind);
  },
  device(space, config) {
    const areas = resolveAreas2(space, config);
    if ("_tag" in areas) return areas;
    return new SplitDevice(space, config, areas);
  },
  layoutOf: splitLayoutOf
};

// src/ring/index.ts
var ringFactory = (layout) => layout === "split" ? splitRing : packedRing;
var layoutOf = (layout, size) => ringFactory(layout).layoutOf(size);
var alignUp = (x, a) => Math.ceil(x / a) * a;
function placeRing(layout, size, base, opts = {}) {
  const l = layoutOf(layout, size);
  const desc = alignUp(base, l.desc.align);
  const driver = alignUp(desc + l.desc.size, l.driver.align);
  const device = alignUp(driver + l.driver.size, Math.max(l.device.align, opts.deviceAlign ?? 1));
  return { addrs: { desc, driver, device }, end: device + l.device.size };
}
function encodeBase(layout, b) {
  if (layout === "split") return b.availIdx & 65535;
  return (b.availIdx & 32767 | (b.availWrap ? 32768 : 0) | (b.usedIdx & 32767) << 16 | (b.usedWrap ? 2147483648 : 0)) >>> 0;
}
function decodeBase(layout, v) {
  if (layout === "split") return { availIdx: v & 65535, availWrap: false, usedIdx: 0, usedWrap: false };
  return { availIdx: v & 32767, availWrap: (v & 32768) !== 0, usedIdx: v >>> 16 & 32767, usedWrap: (v & 2147483648) !== 0 };
}

// src/virtio/features.ts
var E2 = __toESM(require_Either(), 1);
var FEATURE_BITS = {
  // virtio-net (§5.1.3)
  CSUM: 0,
  GUEST_CSUM: 1,
  CTRL_GUEST_OFFLOADS: 2,
  MTU: 3,
  MAC: 5,
  GSO: 6,
  GUEST_TSO4: 7,
  GUEST_TSO6: 8,
  GUEST_ECN: 9,
  GUEST_UFO: 10,
  HOST_TSO4: 11,
  HOST_TSO6: 12,
  HOST_ECN: 13,
  HOST_UFO: 14,
  MRG_RXBUF: 15,
  STATUS: 16,
  CTRL_VQ: 17,
  CTRL_RX: 18,
  CTRL_VLAN: 19,
  CTRL_RX_EXTRA: 20,
  GUEST_ANNOUNCE: 21,
  MQ: 22,
  CTRL_MAC_ADDR: 23,
  VQ_NOTF_COAL: 52,
  NOTF_COAL: 53,
  GUEST_USO4: 54,
  GUEST_USO6: 55,
  HOST_USO: 56,
  HASH_REPORT: 57,
  GUEST_HDRLEN: 59,
  RSS: 60,
  RSC_EXT: 61,
  STANDBY: 62,
  SPEED_DUPLEX: 63,
  // reserved / transport bits (§6)
  NOTIFY_ON_EMPTY: 24,
  ANY_LAYOUT: 27,
  INDIRECT_DESC: 28,
  // VIRTIO_RING_F_INDIRECT_DESC
  EVENT_IDX: 29,
  // VIRTIO_RING_F_EVENT_IDX
  VERSION_1: 32,
  ACCESS_PLATFORM: 33,
  RING_PACKED: 34,
  IN_ORDER: 35,
  ORDER_PLATFORM: 36,
  SR_IOV: 37,
  NOTIFICATION_DATA: 38,
  NOTIF_CONFIG_DATA: 39,
  RING_RESET: 40,
  ADMIN_VQ: 41
};
var F = Object.fromEntries(Object.entries(FEATURE_BITS).map(([k, b]) => [k, 1n << BigInt(b)]));
var NAME_BY_BIT = new Map(Object.entries(FEATURE_BITS).map(([k, b]) => [b, k]));
var hasFeature = (features, name) => (features & F[name]) !== 0n;
var maskOf = (names) => names.reduce((m, n) => m | F[n], 0n);
function featureNames(features) {
  const out = [];
  for (let b = 0; b < 64; b++) {
    if (features >> BigInt(b) & 1n) out.push(NAME_BY_BIT.get(b) ?? `bit${b}`);
  }
  return out;
}
var formatFeatures = (features) => `0x${features.toString(16)} (${featureNames(features).join(",")})`;
var GUEST_OFFLOAD_FEATURES = maskOf(["GUEST_CSUM", "GUEST_TSO4", "GUEST_TSO6", "GUEST_ECN", "GUEST_UFO", "GUEST_USO4", "GUEST_USO6"]);
var FULL_PROFILE_FEATURES = maskOf([
  "CSUM",
  "GUEST_CSUM",
  "CTRL_GUEST_OFFLOADS",
  "MTU",
  "MAC",
  "GUEST_TSO4",
  "GUEST_TSO6",
  "GUEST_ECN",
  "GUEST_UFO",
  "GUEST_USO4",
  "GUEST_USO6",
  "HOST_TSO4",
  "HOST_TSO6",
  "HOST_ECN",
  "HOST_UFO",
  "HOST_USO",
  "MRG_RXBUF",
  "STATUS",
  "CTRL_VQ",
  "CTRL_RX",
  "CTRL_VLAN",
  "CTRL_RX_EXTRA",
  "GUEST_ANNOUNCE",
  "MQ",
  "CTRL_MAC_ADDR",
  "NOTF_COAL",
  "HASH_REPORT",
  "RSS",
  "ANY_LAYOUT",
  "INDIRECT_DESC",
  "EVENT_IDX",
  "VERSION_1",
  "ACCESS_PLATFORM",
  "RING_PACKED"
]);
var FEATURE_REQUIREMENTS = [
  ["GUEST_TSO4", ["GUEST_CSUM"]],
  ["GUEST_TSO6", ["GUEST_CSUM"]],
  ["GUEST_ECN", ["GUEST_TSO4", "GUEST_TSO6"]],
  ["GUEST_UFO", ["GUEST_CSUM"]],
  ["GUEST_USO4", ["GUEST_CSUM"]],
  ["GUEST_USO6", ["GUEST_CSUM"]],
  ["HOST_TSO4", ["CSUM"]],
  ["HOST_TSO6", ["CSUM"]],
  ["HOST_ECN", ["HOST_TSO4", "HOST_TSO6"]],
  ["HOST_UFO", ["CSUM"]],
  ["HOST_USO", ["CSUM"]],
  ["CTRL_RX", ["CTRL_VQ"]],
  ["CTRL_VLAN", ["CTRL_VQ"]],
  ["CTRL_RX_EXTRA", ["CTRL_RX"]],
  ["GUEST_ANNOUNCE", ["CTRL_VQ"]],
  ["MQ", ["CTRL_VQ"]],
  ["CTRL_MAC_ADDR", ["CTRL_VQ"]],
  ["NOTF_COAL", ["CTRL_VQ"]],
  ["VQ_NOTF_COAL", ["CTRL_VQ"]],
  ["RSC_EXT", ["HOST_TSO4", "HOST_TSO6"]],
  ["RSS", ["CTRL_VQ"]],
  ["HASH_REPORT", ["CTRL_VQ"]]
];
function checkFeatureDependencies(features) {
  for (const [feature, requires] of FEATURE_REQUIREMENTS) {
    if (hasFeature(features, feature) && !requires.some((r) => hasFeature(features, r))) {
      return E2.left({
        _tag: "FeatureDependencyError",
        feature,
        requires,
        message: `${feature} requires ${requires.join(" or ")} (virtio 1.2 \xA75.1.3.1)`
      });
    }
  }
  return E2.right(features);
}

// src/virtio/net.ts
var VIRTIO_NET_OK = 0;
var VIRTIO_NET_ERR = 1;
var CTRL_HDR_LEN = 2;
var CTRL_ACK_LEN = 1;
var ETH_ALEN = 6;
var MAX_VLAN = 4096;
var QEMU_MAC_TABLE_ENTRIES = 64;
var NET_CONFIG = {
  mac: 0,
  // u8[6]
  status: 6,
  // le16
  maxVirtqueuePairs: 8,
  // le16
  mtu: 10,
  // le16
  speed: 12,
  // le32
  duplex: 16,
  // u8
  rssMaxKeySize: 17,
  // u8
  rssMaxIndirectionTableLength: 18,
  // le16
  supportedHashTypes: 20,
  // le32
  /** Size up to and including supported_hash_types. */
  size: 24
};
var VIRTIO_NET_S_LINK_UP = 1;
var VIRTIO_NET_S_ANNOUNCE = 2;
var VIRTIO_NET_RSS_HASH_TYPE = {
  IPv4: 1 << 0,
  TCPv4: 1 << 1,
  UDPv4: 1 << 2,
  IPv6: 1 << 3,
  TCPv6: 1 << 4,
  UDPv6: 1 << 5,
  IP_EX: 1 << 6,
  TCP_EX: 1 << 7,
  UDP_EX: 1 << 8
};
var VIRTIO_NET_RSS_HASH_TYPE_ALL = 511;
var VIRTIO_NET_RSS_KEY_SIZE = 40;
var MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
var isMacString = (s) => MAC_RE.test(s);
var normaliseMac = (s) => s.toLowerCase();
var HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
function formatMac(b, o = 0) {
  return `${HEX[b[o]]}:${HEX[b[o + 1]]}:${HEX[b[o + 2]]}:${HEX[b[o + 3]]}:${HEX[b[o + 4]]}:${HEX[b[o + 5]]}`;
}
function writeMac(mac2, b, o = 0) {
  for (let i = 0; i < 6; i++) b[o + i] = parseInt(mac2.slice(i * 3, i * 3 + 2), 16);
}
function macBytes(mac2) {
  const b = new Uint8Array(ETH_ALEN);
  writeMac(mac2, b);
  return b;
}
function toHex(b) {
  let s = "";
  for (let i = 0; i < b.length; i++) s += HEX[b[i]];
  return s;
}
function fromHex(s) {
  if (s.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(s)) return void 0;
  const b = new Uint8Array(s.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return b;
}

// src/virtio/status.ts
var VIRTIO_CONFIG_S = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  NEEDS_RESET: 64,
  FAILED: 128
};

// src/device/types.ts
var deviceError = (kind, op, message, errno, errnoName) => ({
  _tag: "DeviceError",
  kind,
  op,
  ...errno === void 0 ? {} : { errno },
  ...errnoName === void 0 ? {} : { errnoName },
  message
});
var VHOST_BACKEND_F = {
  IOTLB_MSG_V2: 1,
  IOTLB_BATCH: 2,
  IOTLB_ASID: 3,
  SUSPEND: 4,
  RESUME: 5,
  ENABLE_AFTER_DRIVER_OK: 6,
  DESC_ASID: 7,
  IOTLB_PERSIST: 8
};
var backendMask = (names) => names.reduce((m, n) => m | 1n << BigInt(VHOST_BACKEND_F[n]), 0n);
var VHOST_ACCESS_RO = 1;
var VHOST_ACCESS_WO = 2;
var VHOST_ACCESS_RW = 3;

// src/device/sim/core.ts
var E16 = __toESM(require_Either(), 1);

// src/device/sim/clock.ts
var VirtualClock = class {
  /** Simulated time, µs since the device was created. */
  t = 0;
  seq = 0;
  /** Pending events, kept sorted by (at, seq); short in practice (delayed acks). */
  events = [];
  /** Kick → call round trips the device completed (one per processing pass that raised a call). */
  roundTrips = 0;
  get now() {
    return this.t;
  }
  /** Run `fn` when the clock reaches `atUs` (never before). Returns a handle for `cancel`. */
  schedule(atUs, fn) {
    const ev = { at: Math.max(atUs, this.t), seq: ++this.seq, fn };
    let i = this.events.length;
    while (i > 0 && this.events[i - 1].at > ev.at) i--;
    this.events.splice(i, 0, ev);
    return ev.seq;
  }
  cancel(handle) {
    const i = this.events.findIndex((e) => e.seq === handle);
    if (i < 0) return false;
    this.events.splice(i, 1);
    return true;
  }
  /** Drop every pending event (device reset). */
  cancelAll() {
    this.events.length = 0;
  }
  /** Time of the earliest pending event, or undefined. */
  nextEventAt() {
    return this.events[0]?.at;
  }
  pending() {
    return this.events.length;
  }
  /**
   * Move the clock to `atUs` (never backwards), firing every event due on the way in time order, with
   * the clock set to each event's time while it runs.
   */
  advanceTo(atUs) {
    for (; ; ) {
      const ev = this.events[0];
      if (ev === void 0 || ev.at > atUs) break;
      this.events.shift();
      if (ev.at > this.t) this.t = ev.at;
      ev.fn();
    }
    if (atUs > this.t) this.t = atUs;
  }
  advance(us) {
    this.advanceTo(this.t + us);
  }
};

// src/device/sim/errno.ts
var ERRNO = {
  EPERM: 1,
  EIO: 5,
  E2BIG: 7,
  ENOMEM: 12,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  EOPNOTSUPP: 95,
  ENOBUFS: 105,
  ETIMEDOUT: 110
};

// src/device/sim/faults.ts
var CVQ_CLASS_NAMES = ["RX", "MAC", "VLAN", "ANNOUNCE", "MQ", "GUEST_OFFLOADS", "NOTF_COAL"];
var CVQ_COMMAND_NAMES = [
  ["PROMISC", "ALLMULTI", "ALLUNI", "NOMULTI", "NOUNI", "NOBCAST"],
  ["TABLE_SET", "ADDR_SET"],
  ["ADD", "DEL"],
  ["ACK"],
  ["VQ_PAIRS_SET", "RSS_CONFIG", "HASH_CONFIG"],
  ["SET"],
  ["TX_SET", "RX_SET", "VQ_SET", "VQ_GET"]
];
function cvqCommandName(cls, cmd2) {
  const c = CVQ_CLASS_NAMES[cls];
  const n = CVQ_COMMAND_NAMES[cls]?.[cmd2];
  if (c === void 0) return `CLASS${cls}_CMD${cmd2}`;
  return n === void 0 ? `${c}_CMD${cmd2}` : `${c}_${n}`;
}
function cvqCommandByName(name) {
  const want = name.trim().toUpperCase().replace(/^VIRTIO_NET_CTRL_/, "");
  for (let cls = 0; cls < CVQ_COMMAND_NAMES.length; cls++) {
    const cmds = CVQ_COMMAND_NAMES[cls];
    for (let cmd2 = 0; cmd2 < cmds.length; cmd2++) {
      if (want === `${CVQ_CLASS_NAMES[cls]}_${cmds[cmd2]}`) return { cls, cmd: cmd2 };
    }
  }
  return void 0;
}
function cvqClassByName(name) {
  const i = CVQ_CLASS_NAMES.indexOf(name.trim().toUpperCase().replace(/^VIRTIO_NET_CTRL_/, ""));
  return i < 0 ? void 0 : i;
}
var FaultState = class {
  constructor(plan) {
    this.plan = plan;
    this.hits = plan.map(() => 0);
    this.active = plan.length > 0;
  }
  plan;
  hits;
  iotlbUpdates = 0;
  chainsSeen = /* @__PURE__ */ new Map();
  /** False for an empty plan: the hot paths skip every lookup. */
  active;
  /** The first armed rule of `kind` for a CVQ command (cls, cmd), counting a hit. */
  forCommand(kind, cls, cmd2) {
    for (let i = 0; i < this.plan.length; i++) {
      const f = this.plan[i];
      if (f.kind !== kind || !this.armed(i)) continue;
      if ("queue" in f && f.queue !== void 0) continue;
      if (f.kind === "needs-reset" && f.afterChains !== void 0) continue;
      const m = "match" in f ? f.match : void 0;
      if (!matches2(m, cls, cmd2)) continue;
      this.hits[i]++;
      return f;
    }
    return void 0;
  }
  /** A data-queue rule (`wrong-used-len`, `bad-used-id` with `queue: qi`). */
  forQueue(kind, qi) {
    if (!this.active) return void 0;
    for (let i = 0; i < this.plan.length; i++) {
      const f = this.plan[i];
      if (f.kind !== kind || !this.armed(i) || f.queue !== qi) continue;
      this.hits[i]++;
      return f;
    }
    return void 0;
  }
  /** A rule with no match criteria (`suspend-fails`, `resume-fails`). */
  simple(kind) {
    for (let i = 0; i < this.plan.length; i++) {
      const f = this.plan[i];
      if (f.kind !== kind || !this.armed(i)) continue;
      this.hits[i]++;
      return f;
    }
    return void 0;
  }
  /** Called on every IOTLB update: the rule that makes it fail, if any. */
  iotlbUpdate(asid) {
    const n = ++this.iotlbUpdates;
    for (let i = 0; i < this.plan.length; i++) {
      const f = this.plan[i];
      if (f.kind !== "iotlb-map-fails" || !this.armed(i)) continue;
      if (f.asid !== void 0 && f.asid !== asid) continue;
      if (f.after !== void 0 && n <= f.after) continue;
      this.hits[i]++;
      return f;
    }
    return void 0;
  }
  /** Count one chain completed on queue `qi`; true when a `needs-reset` rule for it is due. */
  chainDone(qi) {
    if (!this.active) return false;
    const n = (this.chainsSeen.get(qi) ?? 0) + 1;
    this.chainsSeen.set(qi, n);
    for (let i = 0; i < this.plan.length; i++) {
      const f = this.plan[i];
      if (f.kind !== "needs-reset" || f.afterChains === void 0 || !this.armed(i)) continue;
      if (f.queue !== void 0 && f.queue !== qi) continue;
      if (n < f.afterChains) continue;
      this.hits[i]++;
      return true;
    }
    return false;
  }
  armed(i) {
    const t5 = this.plan[i].times;
    return t5 === void 0 || this.hits[i] < t5;
  }
};
function matches2(m, cls, cmd2) {
  if (m === void 0) return true;
  const cmds = m.commands ?? [];
  const classes = m.classes ?? [];
  if (cmds.length === 0 && classes.length === 0) return true;
  for (const c of classes) {
    const n = typeof c === "number" ? c : cvqClassByName(c);
    if (n === cls) return true;
  }
  for (const name of cmds) {
    const p = cvqCommandByName(name);
    if (p !== void 0 && p.cls === cls && p.cmd === cmd2) return true;
  }
  return false;
}

// src/device/sim/iotlb.ts
var E3 = __toESM(require_Either(), 1);
var fail3 = (errno, message) => E3.left({ errno, message });
var Iotlb = class {
  constructor(asid, deviceName, perms = /* @__PURE__ */ new Map()) {
    this.asid = asid;
    this.perms = perms;
    this.space = new AddressSpace(`iova:${deviceName}:as${asid}`);
  }
  asid;
  space;
  list = [];
  /** VHOST_ACCESS_* per aliased region; a device may share one map across its ASIDs. */
  perms;
  entries() {
    return this.list;
  }
  /** VHOST_ACCESS_* of the region the device resolved an access to (0 when not ours). */
  permOf(region) {
    return this.perms.get(region) ?? 0;
  }
  /**
   * VHOST_IOTLB_UPDATE: map [iova, iova+size) → host [hva, hva+size). Errors as the kernel's:
   * EINVAL for size 0, wrap-around, a range outside [first, last] or bad permissions; EEXIST when the
   * range intersects a mapping; EFAULT when the host range is not host memory.
   */
  update(host, iova, size, hva, perm, range) {
    if (!Number.isSafeInteger(iova) || !Number.isSafeInteger(size) || !Number.isSafeInteger(hva) || iova < 0 || hva < 0) {
      return fail3(ERRNO.EINVAL, `IOTLB update: addresses must be integers below 2^53`);
    }
    if (size <= 0) return fail3(ERRNO.EINVAL, "IOTLB update: size 0");
    const last = iova + size - 1;
    if (iova < range.first || last > range.last) {
      return fail3(ERRNO.EINVAL, `IOTLB update: [0x${iova.toString(16)}, 0x${last.toString(16)}] outside the IOVA range [0x${range.first.toString(16)}, 0x${range.last.toString(16)}]`);
    }
    if (perm !== VHOST_ACCESS_RO && perm !== VHOST_ACCESS_WO && perm !== VHOST_ACCESS_RW) {
      return fail3(ERRNO.EINVAL, `IOTLB update: permission ${perm} is not RO, WO or RW`);
    }
    for (const e of this.list) {
      if (iova <= e.iova + e.size - 1 && e.iova <= last) {
        return fail3(ERRNO.EEXIST, `IOTLB update: [0x${iova.toString(16)}, 0x${last.toString(16)}] overlaps the mapping at 0x${e.iova.toString(16)} (+0x${e.size.toString(16)})`);
      }
    }
    const pieces = [];
    let done = 0;
    while (done < size) {
      const h = hva + done;
      const r = host.find(h, 1);
      if (r === void 0) return fail3(ERRNO.EFAULT, `IOTLB update: host address 0x${h.toString(16)} is not mapped host memory`);
      const n = Math.min(size - done, r.base + r.size - h);
      pieces.push({ iova: iova + done, region: r, offset: r.offset + (h - r.base), size: n });
      done += n;
    }
    const regions = [];
    for (const p of pieces) {
      const added = this.space.addRegion(p.iova, p.region.buffer, { offset: p.offset, size: p.size, name: `${this.space.name}@0x${p.iova.toString(16)}` });
      if (E3.isLeft(added)) {
        for (const r of regions) this.space.removeRegion(r.base);
        return fail3(ERRNO.EINVAL, added.left.message);
      }
      regions.push(added.right);
      this.perms.set(added.right, perm);
    }
    const entry = { iova, size, hva, perm, regions };
    let i = this.list.length;
    while (i > 0 && this.list[i - 1].iova > iova) i--;
    this.list.splice(i, 0, entry);
    return E3.right(entry);
  }
  /**
   * VHOST_IOTLB_INVALIDATE: remove every mapping that intersects [iova, iova+size) — whole mappings, as
   * vhost_iotlb_del_range does. Invalidating nothing is not an error. Returns the entries removed.
   */
  invalidate(iova, size) {
    const last = iova + Math.max(size, 1) - 1;
    const removed = [];
    for (let i = this.list.length - 1; i >= 0; i--) {
      const e = this.list[i];
      if (iova <= e.iova + e.size - 1 && e.iova <= last) {
        for (const r of e.regions) {
          this.space.removeRegion(r.base);
          this.perms.delete(r);
        }
        this.list.splice(i, 1);
        removed.unshift(e);
      }
    }
    return removed;
  }
  clear() {
    for (const e of this.list) {
      for (const r of e.regions) {
        this.space.removeRegion(r.base);
        this.perms.delete(r);
      }
    }
    this.list.length = 0;
  }
};

// node_modules/immer/dist/immer.mjs
var NOTHING = /* @__PURE__ */ Symbol.for("immer-nothing");
var DRAFTABLE = /* @__PURE__ */ Symbol.for("immer-draftable");
var DRAFT_STATE = /* @__PURE__ */ Symbol.for("immer-state");
var errors = process.env.NODE_ENV !== "production" ? [
  // All error codes, starting by 0:
  function(plugin) {
    return `The plugin for '${plugin}' has not been loaded into Immer. To enable the plugin, import and call \`enable${plugin}()\` when initializing your application.`;
  },
  function(thing) {
    return `produce can only be called on things that are draftable: plain objects, arrays, Map, Set or classes that are marked with '[immerable]: true'. Got '${thing}'`;
  },
  "This object has been frozen and should not be mutated",
  function(data) {
    return "Cannot use a proxy that has been revoked. Did you pass an object from inside an immer function to an async process? " + data;
  },
  "An immer producer returned a new value *and* modified its draft. Either return a new value *or* modify the draft.",
  "Immer forbids circular references",
  "The first or second argument to `produce` must be a function",
  "The third argument to `produce` must be a function or undefined",
  "First argument to `createDraft` must be a plain object, an array, or an immerable object",
  "First argument to `finishDraft` must be a draft returned by `createDraft`",
  function(thing) {
    return `'current' expects a draft, got: ${thing}`;
  },
  "Object.defineProperty() cannot be used on an Immer draft",
  "Object.setPrototypeOf() cannot be used on an Immer draft",
  "Immer only supports deleting array indices",
  "Immer only supports setting array indices and the 'length' property",
  function(thing) {
    return `'original' expects a draft, got: ${thing}`;
  }
  // Note: if more errors are added, the errorOffset in Patches.ts should be increased
  // See Patches.ts for additional errors
] : [];
function die(error, ...args) {
  if (process.env.NODE_ENV !== "production") {
    const e = errors[error];
    const msg = isFunction(e) ? e.apply(null, args) : e;
    throw new Error(`[Immer] ${msg}`);
  }
  throw new Error(
    `[Immer] minified error nr: ${error}. Full error at: https://bit.ly/3cXEKWf`
  );
}
var O = Object;
var getPrototypeOf = O.getPrototypeOf;
var CONSTRUCTOR = "constructor";
var PROTOTYPE = "prototype";
var CONFIGURABLE = "configurable";
var ENUMERABLE = "enumerable";
var WRITABLE = "writable";
var VALUE = "value";
var isDraft = (value) => !!value && !!value[DRAFT_STATE];
function isDraftable(value) {
  if (!value)
    return false;
  return isPlainObject(value) || isArray2(value) || !!value[DRAFTABLE] || !!value[CONSTRUCTOR]?.[DRAFTABLE] || isMap(value) || isSet(value);
}
var objectCtorString = O[PROTOTYPE][CONSTRUCTOR].toString();
var cachedCtorStrings = /* @__PURE__ */ new WeakMap();
function isPlainObject(value) {
  if (!value || !isObjectish(value))
    return false;
  const proto = getPrototypeOf(value);
  if (proto === null || proto === O[PROTOTYPE])
    return true;
  const Ctor = O.hasOwnProperty.call(proto, CONSTRUCTOR) && proto[CONSTRUCTOR];
  if (Ctor === Object)
    return true;
  if (!isFunction(Ctor))
    return false;
  let ctorString = cachedCtorStrings.get(Ctor);
  if (ctorString === void 0) {
    ctorString = Function.toString.call(Ctor);
    cachedCtorStrings.set(Ctor, ctorString);
  }
  return ctorString === objectCtorString;
}
function each(obj, iter, strict2 = true) {
  if (getArchtype(obj) === 0) {
    const keys = strict2 ? Reflect.ownKeys(obj) : O.keys(obj);
    keys.forEach((key) => {
      iter(key, obj[key], obj);
    });
  } else {
    obj.forEach((entry, index) => iter(index, entry, obj));
  }
}
function getArchtype(thing) {
  const state = thing[DRAFT_STATE];
  return state ? state.type_ : isArray2(thing) ? 1 : isMap(thing) ? 2 : isSet(thing) ? 3 : 0;
}
var has = (thing, prop, type2 = getArchtype(thing)) => type2 === 2 ? thing.has(prop) : O[PROTOTYPE].hasOwnProperty.call(thing, prop);
var get = (thing, prop, type2 = getArchtype(thing)) => (
  // @ts-ignore
  type2 === 2 ? thing.get(prop) : thing[prop]
);
var set = (thing, propOrOldValue, value, type2 = getArchtype(thing)) => {
  if (type2 === 2)
    thing.set(propOrOldValue, value);
  else if (type2 === 3) {
    thing.add(value);
  } else
    thing[propOrOldValue] = value;
};
function is(x, y) {
  if (x === y) {
    return x !== 0 || 1 / x === 1 / y;
  } else {
    return x !== x && y !== y;
  }
}
var isArray2 = Array.isArray;
var isMap = (target) => target instanceof Map;
var isSet = (target) => target instanceof Set;
var isObjectish = (target) => typeof target === "object";
var isFunction = (target) => typeof target === "function";
var isBoolean = (target) => typeof target === "boolean";
function isArrayIndex(value) {
  const n = +value;
  return Number.isInteger(n) && String(n) === value;
}
var latest = (state) => state.copy_ || state.base_;
var getFinalValue = (state) => state.modified_ ? state.copy_ : state.base_;
function shallowCopy(base, strict2) {
  if (isMap(base)) {
    return new Map(base);
  }
  if (isSet(base)) {
    return new Set(base);
  }
  if (isArray2(base))
    return Array[PROTOTYPE].slice.call(base);
  const isPlain = isPlainObject(base);
  if (strict2 === true || strict2 === "class_only" && !isPlain) {
    const descriptors = O.getOwnPropertyDescriptors(base);
    delete descriptors[DRAFT_STATE];
    let keys = Reflect.ownKeys(descriptors);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      const desc = descriptors[key];
      if (desc[WRITABLE] === false) {
        desc[WRITABLE] = true;
        desc[CONFIGURABLE] = true;
      }
      if (desc.get || desc.set)
        descriptors[key] = {
          [CONFIGURABLE]: true,
          [WRITABLE]: true,
          // could live with !!desc.set as well here...
          [ENUMERABLE]: desc[ENUMERABLE],
          [VALUE]: base[key]
        };
    }
    return O.create(getPrototypeOf(base), descriptors);
  } else {
    const proto = getPrototypeOf(base);
    if (proto !== null && isPlain) {
      return { ...base };
    }
    const obj = O.create(proto);
    return O.assign(obj, base);
  }
}
function freeze(obj, deep = false) {
  if (isFrozen(obj) || isDraft(obj) || !isDraftable(obj))
    return obj;
  if (getArchtype(obj) > 1) {
    O.defineProperties(obj, {
      set: dontMutateMethodOverride,
      add: dontMutateMethodOverride,
      clear: dontMutateMethodOverride,
      delete: dontMutateMethodOverride
    });
  }
  O.freeze(obj);
  if (deep)
    each(
      obj,
      (_key, value) => {
        freeze(value, true);
      },
      false
    );
  return obj;
}
function dontMutateFrozenCollections() {
  die(2);
}
var dontMutateMethodOverride = {
  [VALUE]: dontMutateFrozenCollections
};
function isFrozen(obj) {
  if (obj === null || !isObjectish(obj))
    return true;
  return O.isFrozen(obj);
}
var PluginMapSet = "MapSet";
var PluginPatches = "Patches";
var PluginArrayMethods = "ArrayMethods";
var plugins = {};
function getPlugin(pluginKey) {
  const plugin = plugins[pluginKey];
  if (!plugin) {
    die(0, pluginKey);
  }
  return plugin;
}
var isPluginLoaded = (pluginKey) => !!plugins[pluginKey];
var currentScope;
var getCurrentScope = () => currentScope;
var createScope = (parent_, immer_) => ({
  drafts_: [],
  parent_,
  immer_,
  // Whenever the modified draft contains a draft from another scope, we
  // need to prevent auto-freezing so the unowned draft can be finalized.
  canAutoFreeze_: true,
  unfinalizedDrafts_: 0,
  handledSet_: /* @__PURE__ */ new Set(),
  processedForPatches_: /* @__PURE__ */ new Set(),
  mapSetPlugin_: isPluginLoaded(PluginMapSet) ? getPlugin(PluginMapSet) : void 0,
  arrayMethodsPlugin_: isPluginLoaded(PluginArrayMethods) ? getPlugin(PluginArrayMethods) : void 0
});
function usePatchesInScope(scope, patchListener) {
  if (patchListener) {
    scope.patchPlugin_ = getPlugin(PluginPatches);
    scope.patches_ = [];
    scope.inversePatches_ = [];
    scope.patchListener_ = patchListener;
  }
}
function revokeScope(scope) {
  leaveScope(scope);
  scope.drafts_.forEach(revokeDraft);
  scope.drafts_ = null;
}
function leaveScope(scope) {
  if (scope === currentScope) {
    currentScope = scope.parent_;
  }
}
var enterScope = (immer2) => currentScope = createScope(currentScope, immer2);
function revokeDraft(draft) {
  const state = draft[DRAFT_STATE];
  if (state.type_ === 0 || state.type_ === 1)
    state.revoke_();
  else
    state.revoked_ = true;
}
function processResult(result, scope) {
  scope.unfinalizedDrafts_ = scope.drafts_.length;
  const baseDraft = scope.drafts_[0];
  const isReplaced = result !== void 0 && result !== baseDraft;
  if (isReplaced) {
    if (baseDraft[DRAFT_STATE].modified_) {
      revokeScope(scope);
      die(4);
    }
    if (isDraftable(result)) {
      result = finalize(scope, result);
    }
    const { patchPlugin_ } = scope;
    if (patchPlugin_) {
      patchPlugin_.generateReplacementPatches_(
        baseDraft[DRAFT_STATE].base_,
        result,
        scope
      );
    }
  } else {
    result = finalize(scope, baseDraft);
  }
  maybeFreeze(scope, result, true);
  revokeScope(scope);
  if (scope.patches_) {
    scope.patchListener_(scope.patches_, scope.inversePatches_);
  }
  return result !== NOTHING ? result : void 0;
}
function finalize(rootScope, value) {
  if (isFrozen(value))
    return value;
  const state = value[DRAFT_STATE];
  if (!state) {
    const finalValue = handleValue(value, rootScope.handledSet_, rootScope);
    return finalValue;
  }
  if (!isSameScope(state, rootScope)) {
    return value;
  }
  if (!state.modified_) {
    return state.base_;
  }
  if (!state.finalized_) {
    const { callbacks_ } = state;
    if (callbacks_) {
      while (callbacks_.length > 0) {
        const callback = callbacks_.pop();
        callback(rootScope);
      }
    }
    generatePatchesAndFinalize(state, rootScope);
  }
  return state.copy_;
}
function maybeFreeze(scope, value, deep = false) {
  if (!scope.parent_ && scope.immer_.autoFreeze_ && scope.canAutoFreeze_) {
    freeze(value, deep);
  }
}
function markStateFinalized(state) {
  state.finalized_ = true;
  state.scope_.unfinalizedDrafts_--;
}
var isSameScope = (state, rootScope) => state.scope_ === rootScope;
var EMPTY_LOCATIONS_RESULT = [];
function updateDraftInParent(parent, draftValue, finalizedValue, originalKey) {
  const parentCopy = latest(parent);
  const parentType = parent.type_;
  if (originalKey !== void 0) {
    const currentValue = get(parentCopy, originalKey, parentType);
    if (currentValue === draftValue) {
      set(parentCopy, originalKey, finalizedValue, parentType);
      return;
    }
  }
  if (!parent.draftLocations_) {
    const draftLocations = parent.draftLocations_ = /* @__PURE__ */ new Map();
    each(parentCopy, (key, value) => {
      if (isDraft(value)) {
        const keys = draftLocations.get(value) || [];
        keys.push(key);
        draftLocations.set(value, keys);
      }
    });
  }
  const locations = parent.draftLocations_.get(draftValue) ?? EMPTY_LOCATIONS_RESULT;
  for (const location of locations) {
    set(parentCopy, location, finalizedValue, parentType);
  }
}
function registerChildFinalizationCallback(parent, child, key) {
  parent.callbacks_.push(function childCleanup(rootScope) {
    const state = child;
    if (!state || !isSameScope(state, rootScope)) {
      return;
    }
    rootScope.mapSetPlugin_?.fixSetContents(state);
    const finalizedValue = getFinalValue(state);
    updateDraftInParent(parent, state.draft_ ?? state, finalizedValue, key);
    generatePatchesAndFinalize(state, rootScope);
  });
}
function generatePatchesAndFinalize(state, rootScope) {
  const shouldFinalize = state.modified_ && !state.finalized_ && (state.type_ === 3 || state.type_ === 1 && state.allIndicesReassigned_ || (state.assigned_?.size ?? 0) > 0);
  if (shouldFinalize) {
    const { patchPlugin_ } = rootScope;
    if (patchPlugin_) {
      const basePath = patchPlugin_.getPath(state);
      if (basePath) {
        patchPlugin_.generatePatches_(state, basePath, rootScope);
      }
    }
    markStateFinalized(state);
  }
}
function handleCrossReference(target, key, value) {
  const { scope_ } = target;
  if (isDraft(value)) {
    const state = value[DRAFT_STATE];
    if (isSameScope(state, scope_)) {
      state.callbacks_.push(function crossReferenceCleanup() {
        prepareCopy(target);
        const finalizedValue = getFinalValue(state);
        updateDraftInParent(target, value, finalizedValue, key);
      });
    }
  } else if (isDraftable(value)) {
    target.callbacks_.push(function nestedDraftCleanup() {
      const targetCopy = latest(target);
      if (target.type_ === 3) {
        if (targetCopy.has(value)) {
          handleValue(value, scope_.handledSet_, scope_);
        }
      } else {
        if (get(targetCopy, key, target.type_) === value) {
          if (scope_.drafts_.length > 1 && (target.assigned_.get(key) ?? false) === true && target.copy_) {
            handleValue(
              get(target.copy_, key, target.type_),
              scope_.handledSet_,
              scope_
            );
          }
        }
      }
    });
  }
}
function handleValue(target, handledSet, rootScope) {
  if (!rootScope.immer_.autoFreeze_ && rootScope.unfinalizedDrafts_ < 1) {
    return target;
  }
  if (isDraft(target) || handledSet.has(target) || !isDraftable(target) || isFrozen(target)) {
    return target;
  }
  handledSet.add(target);
  each(target, (key, value) => {
    if (isDraft(value)) {
      const state = value[DRAFT_STATE];
      if (isSameScope(state, rootScope)) {
        const updatedValue = getFinalValue(state);
        set(target, key, updatedValue, target.type_);
        markStateFinalized(state);
      }
    } else if (isDraftable(value)) {
      handleValue(value, handledSet, rootScope);
    }
  });
  return target;
}
function createProxyProxy(base, parent) {
  const baseIsArray = isArray2(base);
  const state = {
    type_: baseIsArray ? 1 : 0,
    // Track which produce call this is associated with.
    scope_: parent ? parent.scope_ : getCurrentScope(),
    // True for both shallow and deep changes.
    modified_: false,
    // Used during finalization.
    finalized_: false,
    // Track which properties have been assigned (true) or deleted (false).
    // actually instantiated in `prepareCopy()`
    assigned_: void 0,
    // The parent draft state.
    parent_: parent,
    // The base state.
    base_: base,
    // The base proxy.
    draft_: null,
    // set below
    // The base copy with any updated values.
    copy_: null,
    // Called by the `produce` function.
    revoke_: null,
    isManual_: false,
    // `callbacks` actually gets assigned in `createProxy`
    callbacks_: void 0
  };
  let target = state;
  let traps = objectTraps;
  if (baseIsArray) {
    target = [state];
    traps = arrayTraps;
  }
  const { revoke, proxy } = Proxy.revocable(target, traps);
  state.draft_ = proxy;
  state.revoke_ = revoke;
  return [proxy, state];
}
var objectTraps = {
  get(state, prop) {
    if (prop === DRAFT_STATE)
      return state;
    let arrayPlugin = state.scope_.arrayMethodsPlugin_;
    const isArrayWithStringProp = state.type_ === 1 && typeof prop === "string";
    if (isArrayWithStringProp) {
      if (arrayPlugin?.isArrayOperationMethod(prop)) {
        return arrayPlugin.createMethodInterceptor(state, prop);
      }
    }
    const source = latest(state);
    if (!has(source, prop, state.type_)) {
      return readPropFromProto(state, source, prop);
    }
    const value = source[prop];
    if (state.finalized_ || !isDraftable(value)) {
      return value;
    }
    if (isArrayWithStringProp && state.operationMethod && arrayPlugin?.isMutatingArrayMethod(
      state.operationMethod
    ) && isArrayIndex(prop)) {
      return value;
    }
    if (value === peek(state.base_, prop) || isRelocatedBaseRef(state, prop, value)) {
      prepareCopy(state);
      const childKey = state.type_ === 1 ? +prop : prop;
      const childDraft = createProxy(state.scope_, value, state, childKey);
      return state.copy_[childKey] = childDraft;
    }
    return value;
  },
  has(state, prop) {
    return prop in latest(state);
  },
  ownKeys(state) {
    return Reflect.ownKeys(latest(state));
  },
  set(state, prop, value) {
    const desc = getDescriptorFromProto(latest(state), prop);
    if (desc?.set) {
      desc.set.call(state.draft_, value);
      return true;
    }
    if (!state.modified_) {
      const current2 = peek(latest(state), prop);
      const currentState = current2?.[DRAFT_STATE];
      if (currentState && currentState.base_ === value) {
        state.copy_[prop] = value;
        state.assigned_.delete(prop);
        return true;
      }
      if (is(value, current2) && (value !== void 0 || has(state.base_, prop, state.type_)))
        return true;
      prepareCopy(state);
      markChanged(state);
    }
    if (state.copy_[prop] === value && // special case: handle new props with value 'undefined'
    (value !== void 0 || has(state.copy_, prop, state.type_)) || // special case: NaN
    Number.isNaN(value) && Number.isNaN(state.copy_[prop]))
      return true;
    state.copy_[prop] = value;
    state.assigned_.set(prop, true);
    handleCrossReference(state, prop, value);
    return true;
  },
  deleteProperty(state, prop) {
    prepareCopy(state);
    if (peek(state.base_, prop) !== void 0 || prop in state.base_) {
      state.assigned_.set(prop, false);
      markChanged(state);
    } else {
      state.assigned_.delete(prop);
    }
    if (state.copy_) {
      delete state.copy_[prop];
    }
    return true;
  },
  // Note: We never coerce `desc.value` into an Immer draft, because we can't make
  // the same guarantee in ES5 mode.
  getOwnPropertyDescriptor(state, prop) {
    const owner = latest(state);
    const desc = Reflect.getOwnPropertyDescriptor(owner, prop);
    if (!desc)
      return desc;
    return {
      [WRITABLE]: true,
      [CONFIGURABLE]: state.type_ !== 1 || prop !== "length",
      [ENUMERABLE]: desc[ENUMERABLE],
      [VALUE]: owner[prop]
    };
  },
  defineProperty() {
    die(11);
  },
  getPrototypeOf(state) {
    return getPrototypeOf(state.base_);
  },
  setPrototypeOf() {
    die(12);
  }
};
var arrayTraps = {};
for (let key in objectTraps) {
  let fn = objectTraps[key];
  arrayTraps[key] = function() {
    const args = arguments;
    args[0] = args[0][0];
    return fn.apply(this, args);
  };
}
arrayTraps.deleteProperty = function(state, prop) {
  if (process.env.NODE_ENV !== "production" && isNaN(parseInt(prop)))
    die(13);
  return arrayTraps.set.call(this, state, prop, void 0);
};
arrayTraps.set = function(state, prop, value) {
  if (process.env.NODE_ENV !== "production" && prop !== "length" && isNaN(parseInt(prop)))
    die(14);
  return objectTraps.set.call(this, state[0], prop, value, state[0]);
};
function peek(draft, prop) {
  const state = draft[DRAFT_STATE];
  const source = state ? latest(state) : draft;
  return source[prop];
}
function isRelocatedBaseRef(state, prop, value) {
  if (state.type_ !== 1 || !state.allIndicesReassigned_ || !isDraftable(value) || value[DRAFT_STATE]) {
    return false;
  }
  return state.baseRefs_.has(value);
}
function readPropFromProto(state, source, prop) {
  const desc = getDescriptorFromProto(source, prop);
  return desc ? VALUE in desc ? desc[VALUE] : (
    // This is a very special case, if the prop is a getter defined by the
    // prototype, we should invoke it with the draft as context!
    desc.get?.call(state.draft_)
  ) : void 0;
}
function getDescriptorFromProto(source, prop) {
  if (!(prop in source))
    return void 0;
  let proto = getPrototypeOf(source);
  while (proto) {
    const desc = Object.getOwnPropertyDescriptor(proto, prop);
    if (desc)
      return desc;
    proto = getPrototypeOf(proto);
  }
  return void 0;
}
function markChanged(state) {
  if (!state.modified_) {
    state.modified_ = true;
    if (state.parent_) {
      markChanged(state.parent_);
    }
  }
}
function prepareCopy(state) {
  if (!state.copy_) {
    state.assigned_ = /* @__PURE__ */ new Map();
    state.copy_ = shallowCopy(
      state.base_,
      state.scope_.immer_.useStrictShallowCopy_
    );
  }
}
var Immer2 = class {
  constructor(config) {
    this.autoFreeze_ = true;
    this.useStrictShallowCopy_ = false;
    this.useStrictIteration_ = false;
    this.produce = (base, recipe, patchListener) => {
      if (isFunction(base) && !isFunction(recipe)) {
        const defaultBase = recipe;
        recipe = base;
        const self2 = this;
        return function curriedProduce(base2 = defaultBase, ...args) {
          return self2.produce(base2, (draft) => recipe.call(this, draft, ...args));
        };
      }
      if (!isFunction(recipe))
        die(6);
      if (patchListener !== void 0 && !isFunction(patchListener))
        die(7);
      let result;
      if (isDraftable(base)) {
        const scope = enterScope(this);
        const proxy = createProxy(scope, base, void 0);
        let hasError = true;
        try {
          result = recipe(proxy);
          hasError = false;
        } finally {
          if (hasError)
            revokeScope(scope);
          else
            leaveScope(scope);
        }
        usePatchesInScope(scope, patchListener);
        return processResult(result, scope);
      } else if (!base || !isObjectish(base)) {
        result = recipe(base);
        if (result === void 0)
          result = base;
        if (result === NOTHING)
          result = void 0;
        if (this.autoFreeze_)
          freeze(result, true);
        if (patchListener) {
          const p = [];
          const ip = [];
          getPlugin(PluginPatches).generateReplacementPatches_(base, result, {
            patches_: p,
            inversePatches_: ip
          });
          patchListener(p, ip);
        }
        return result;
      } else
        die(1, base);
    };
    this.produceWithPatches = (base, recipe) => {
      if (isFunction(base)) {
        return (state, ...args) => this.produceWithPatches(state, (draft) => base(draft, ...args));
      }
      let patches, inversePatches;
      const result = this.produce(base, recipe, (p, ip) => {
        patches = p;
        inversePatches = ip;
      });
      return [result, patches, inversePatches];
    };
    if (isBoolean(config?.autoFreeze))
      this.setAutoFreeze(config.autoFreeze);
    const strictShallowCopy = config?.useStrictShallowCopy;
    if (isBoolean(strictShallowCopy) || strictShallowCopy === "class_only")
      this.setUseStrictShallowCopy(strictShallowCopy);
    if (isBoolean(config?.useStrictIteration))
      this.setUseStrictIteration(config.useStrictIteration);
  }
  createDraft(base) {
    if (!isDraftable(base))
      die(8);
    if (isDraft(base))
      base = current(base);
    const scope = enterScope(this);
    const proxy = createProxy(scope, base, void 0);
    proxy[DRAFT_STATE].isManual_ = true;
    leaveScope(scope);
    return proxy;
  }
  finishDraft(draft, patchListener) {
    const state = draft && draft[DRAFT_STATE];
    if (!state || !state.isManual_)
      die(9);
    const { scope_: scope } = state;
    usePatchesInScope(scope, patchListener);
    return processResult(void 0, scope);
  }
  /**
   * Pass true to automatically freeze all copies created by Immer.
   *
   * By default, auto-freezing is enabled.
   */
  setAutoFreeze(value) {
    this.autoFreeze_ = value;
  }
  /**
   * Pass true to enable strict shallow copy.
   *
   * By default, immer does not copy the object descriptors such as getter, setter and non-enumrable properties.
   */
  setUseStrictShallowCopy(value) {
    this.useStrictShallowCopy_ = value;
  }
  /**
   * Pass false to use faster iteration that skips non-enumerable properties
   * but still handles symbols for compatibility.
   *
   * By default, strict iteration is enabled (includes all own properties).
   */
  setUseStrictIteration(value) {
    this.useStrictIteration_ = value;
  }
  shouldUseStrictIteration() {
    return this.useStrictIteration_;
  }
  applyPatches(base, patches) {
    let i;
    for (i = patches.length - 1; i >= 0; i--) {
      const patch = patches[i];
      if (patch.path.length === 0 && patch.op === "replace") {
        base = patch.value;
        break;
      }
    }
    if (i > -1) {
      patches = patches.slice(i + 1);
    }
    const applyPatchesImpl = getPlugin(PluginPatches).applyPatches_;
    if (isDraft(base)) {
      return applyPatchesImpl(base, patches);
    }
    return this.produce(
      base,
      (draft) => applyPatchesImpl(draft, patches)
    );
  }
};
function createProxy(rootScope, value, parent, key) {
  const [draft, state] = isMap(value) ? getPlugin(PluginMapSet).proxyMap_(value, parent) : isSet(value) ? getPlugin(PluginMapSet).proxySet_(value, parent) : createProxyProxy(value, parent);
  const scope = parent?.scope_ ?? getCurrentScope();
  scope.drafts_.push(draft);
  state.callbacks_ = parent?.callbacks_ ?? [];
  state.key_ = key;
  if (parent && key !== void 0) {
    registerChildFinalizationCallback(parent, state, key);
  } else {
    state.callbacks_.push(function rootDraftCleanup(rootScope2) {
      rootScope2.mapSetPlugin_?.fixSetContents(state);
      const { patchPlugin_ } = rootScope2;
      if (state.modified_ && patchPlugin_) {
        patchPlugin_.generatePatches_(state, [], rootScope2);
      }
    });
  }
  return draft;
}
function current(value) {
  if (!isDraft(value))
    die(10, value);
  return currentImpl(value);
}
function currentImpl(value) {
  if (!isDraftable(value) || isFrozen(value))
    return value;
  const state = value[DRAFT_STATE];
  let copy;
  let strict2 = true;
  if (state) {
    if (!state.modified_)
      return state.base_;
    state.finalized_ = true;
    copy = shallowCopy(value, state.scope_.immer_.useStrictShallowCopy_);
    strict2 = state.scope_.immer_.shouldUseStrictIteration();
  } else {
    copy = shallowCopy(value, true);
  }
  const source = copy;
  if (isSet(copy))
    copy = /* @__PURE__ */ new Set();
  each(
    source,
    (key, childValue) => {
      set(copy, key, currentImpl(childValue));
    },
    strict2
  );
  if (state) {
    state.finalized_ = false;
  }
  return copy;
}
var _globalIterator = globalThis.Iterator;
var hasIteratorFrom = typeof _globalIterator?.from === "function";
var immer = new Immer2();
var produce = immer.produce;

// src/device/sim/net-model.ts
var E15 = __toESM(require_Either(), 1);

// src/cvq/classes/announce.ts
var E5 = __toESM(require_Either(), 1);

// src/cvq/classes/types.ts
var E4 = __toESM(require_Either(), 1);
var defineClass = () => (def) => ({
  // one property order for every class: the codec and the reducer dispatch through one object shape
  name: def.name,
  cls: def.cls,
  section: def.section,
  commands: def.commands,
  payloadLength: def.payloadLength,
  encode: def.encode,
  decode: def.decode,
  describe: def.describe,
  apply: def.apply,
  plan: def.plan,
  view: def.view,
  maximal: def.maximal,
  json: def.json,
  arbitraries: def.arbitraries,
  arbitraryState: def.arbitraryState,
  sim: def.sim
});
var refuse = (kind, reason, message) => E4.left({ _tag: "CommandRefused", kind, reason, message: `${kind}: ${message}` });

// src/cvq/classes/announce.ts
var VIRTIO_NET_CTRL_ANNOUNCE = 3;
var VIRTIO_NET_CTRL_ANNOUNCE_ACK = 0;
var announce = defineClass()({
  name: "ANNOUNCE",
  cls: VIRTIO_NET_CTRL_ANNOUNCE,
  section: "\xA75.1.6.5.4",
  commands: { ANNOUNCE_ACK: { code: VIRTIO_NET_CTRL_ANNOUNCE_ACK, feature: "GUEST_ANNOUNCE" } },
  payloadLength: () => 0,
  encode: (_cmd, _buf, o) => o,
  decode: (_r, kind) => ({ kind }),
  describe: () => "ANNOUNCE_ACK",
  apply: (state) => E5.right(state),
  plan() {
  },
  view: () => ({}),
  maximal: () => ({}),
  json: (_k) => ({ props: {}, fields: {}, toState: () => ({}), fromState: () => ({}) }),
  arbitraries: ({ fc }) => [fc.constant({ kind: "ANNOUNCE_ACK" })],
  arbitraryState: ({ fc }) => fc.constant({}),
  sim: {
    // QEMU virtio_net_handle_announce: OK only while an announcement is pending, which it ends
    refuse: (_cmd, dev2) => dev2.announcePending ? void 0 : "ANNOUNCE_ACK with no announcement pending",
    applied(_cmd, dev2) {
      dev2.announcePending = false;
    }
  }
});

// src/cvq/classes/mac.ts
var E6 = __toESM(require_Either(), 1);
var t = __toESM(require_lib(), 1);

// src/cvq/classes/wire.ts
var decodeFail = (reason, what) => ({ reason, what });
var shortPayload = (what) => decodeFail("short-payload", `payload ends inside ${what}`);
var isFail = (x) => x.reason !== void 0;
var putU16 = (b, o, v) => {
  b[o] = v & 255;
  b[o + 1] = v >>> 8 & 255;
};
var putU32 = (b, o, v) => {
  b[o] = v & 255;
  b[o + 1] = v >>> 8 & 255;
  b[o + 2] = v >>> 16 & 255;
  b[o + 3] = v >>> 24 & 255;
};
var putMac = (b, o, mac2) => {
  writeMac(mac2, b, o);
  return o + ETH_ALEN;
};
var WireReader = class {
  constructor(segs) {
    this.segs = segs;
    let n = 0;
    for (const s of segs) n += s.length;
    this.remaining = n;
  }
  segs;
  seg = 0;
  pos = 0;
  remaining;
  /** Next byte; callers check `remaining` first. */
  u8() {
    let s = this.segs[this.seg];
    while (this.pos >= s.length) {
      this.seg++;
      this.pos = 0;
      s = this.segs[this.seg];
    }
    this.remaining--;
    return s[this.pos++];
  }
  u16() {
    const lo = this.u8();
    return lo | this.u8() << 8;
  }
  u32() {
    const lo = this.u16();
    return lo + this.u16() * 65536 >>> 0;
  }
  bytes(n) {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.u8();
    return b;
  }
  mac() {
    return formatMac(this.bytes(ETH_ALEN));
  }
};

// src/cvq/classes/mac.ts
var VIRTIO_NET_CTRL_MAC = 1;
var VIRTIO_NET_CTRL_MAC_TABLE_SET = 0;
var VIRTIO_NET_CTRL_MAC_ADDR_SET = 1;
var benchMac = (i, multicast) => `${multicast ? "01" : "02"}:00:5e:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;
var mac = defineClass()({
  name: "MAC",
  cls: VIRTIO_NET_CTRL_MAC,
  section: "\xA75.1.6.5.2",
  commands: {
    MAC_TABLE_SET: { code: VIRTIO_NET_CTRL_MAC_TABLE_SET, feature: "CTRL_RX" },
    MAC_ADDR_SET: { code: VIRTIO_NET_CTRL_MAC_ADDR_SET, feature: "CTRL_MAC_ADDR" }
  },
  payloadLength: (cmd2) => cmd2.kind === "MAC_ADDR_SET" ? ETH_ALEN : 8 + ETH_ALEN * (cmd2.unicast.length + cmd2.multicast.length),
  encode(cmd2, buf, o) {
    if (cmd2.kind === "MAC_ADDR_SET") return putMac(buf, o, cmd2.mac);
    for (const block of [cmd2.unicast, cmd2.multicast]) {
      putU32(buf, o, block.length);
      o += 4;
      for (const m of block) o = putMac(buf, o, m);
    }
    return o;
  },
  decode(r, kind) {
    if (kind === "MAC_ADDR_SET") {
      if (r.remaining < ETH_ALEN) return shortPayload("the 6-byte MAC");
      return { kind, mac: r.mac() };
    }
    const blocks = [];
    for (const which of ["unicast", "multicast"]) {
      if (r.remaining < 4) return shortPayload(`the ${which} entries count`);
      const entries = r.u32();
      if (r.remaining < entries * ETH_ALEN) {
        return shortPayload(`the ${which} MACs (${entries} entries need ${entries * ETH_ALEN} bytes, ${r.remaining} left)`);
      }
      const macs = [];
      for (let i = 0; i < entries; i++) macs.push(r.mac());
      blocks.push(macs);
    }
    return { kind, unicast: blocks[0], multicast: blocks[1] };
  },
  describe: (cmd2) => cmd2.kind === "MAC_ADDR_SET" ? `MAC_ADDR_SET ${cmd2.mac}` : `MAC_TABLE_SET unicast=${cmd2.unicast.length} multicast=${cmd2.multicast.length}`,
  apply(state, cmd2, _negotiated, limits) {
    if (cmd2.kind === "MAC_ADDR_SET") return E6.right(produce(state, (d) => void (d.mac = cmd2.mac)));
    const max = limits.macTableEntries;
    const uniFits = cmd2.unicast.length <= max;
    const inUse = uniFits ? cmd2.unicast.length : 0;
    const multiFits = inUse + cmd2.multicast.length <= max;
    return E6.right(
      produce(state, (d) => {
        d.macTable = {
          unicast: uniFits ? [...cmd2.unicast] : [],
          multicast: multiFits ? [...cmd2.multicast] : [],
          unicastOverflow: !uniFits,
          multicastOverflow: !multiFits
        };
      })
    );
  },
  plan(state, { has: has2 }, out) {
    if (has2("CTRL_MAC_ADDR")) out.push({ kind: "MAC_ADDR_SET", mac: state.mac });
    const t5 = state.macTable;
    if (has2("CTRL_RX") && (t5.unicast.length > 0 || t5.multicast.length > 0)) out.push({ kind: "MAC_TABLE_SET", unicast: t5.unicast, multicast: t5.multicast });
  },
  // The MAC is kept whatever the features: without CTRL_MAC_ADDR the destination's MAC comes from its
  // config space (VIRTIO_NET_F_MAC), which management provisions identical to the source's.
  view(state, { has: has2, reset }) {
    const t5 = state.macTable;
    const macTable = has2("CTRL_RX") && (t5.unicast.length > 0 || t5.multicast.length > 0) ? { unicast: t5.unicast, multicast: t5.multicast, unicastOverflow: false, multicastOverflow: false } : reset.macTable;
    return { mac: state.mac, macTable };
  },
  maximal: () => ({
    mac: "52:54:00:12:34:56",
    macTable: {
      unicast: Array.from({ length: 32 }, (_, i) => benchMac(i, false)),
      multicast: Array.from({ length: 32 }, (_, i) => benchMac(i, true)),
      unicastOverflow: false,
      multicastOverflow: false
    }
  }),
  json: (k) => ({
    props: {
      mac: k.macString,
      macTable: k.closed(
        { unicast: k.arrayOf(k.macString, "MAC[]"), multicast: k.arrayOf(k.macString, "MAC[]"), unicastOverflow: t.boolean, multicastOverflow: t.boolean },
        "MacTable"
      )
    },
    fields: { mac: "mac", macTable: "macTable" },
    toState: (v) => ({ mac: v.mac, macTable: v.macTable }),
    fromState: (s) => ({
      mac: s.mac,
      macTable: {
        unicast: [...s.macTable.unicast],
        multicast: [...s.macTable.multicast],
        unicastOverflow: s.macTable.unicastOverflow,
        multicastOverflow: s.macTable.multicastOverflow
      }
    })
  }),
  arbitraries: ({ fc, mac: arbMac }) => [
    fc.record({ kind: fc.constant("MAC_TABLE_SET"), unicast: fc.array(arbMac, { maxLength: 70 }), multicast: fc.array(arbMac, { maxLength: 70 }) }),
    fc.record({ kind: fc.constant("MAC_ADDR_SET"), mac: arbMac })
  ],
  arbitraryState: ({ fc, mac: arbMac }, { limits }) => fc.integer({ min: 0, max: limits.macTableEntries }).chain(
    (nUni) => fc.record({
      mac: arbMac,
      macTable: fc.record({
        unicast: fc.array(arbMac, { minLength: nUni, maxLength: nUni }),
        multicast: fc.array(arbMac, { maxLength: limits.macTableEntries - nUni }),
        unicastOverflow: fc.boolean(),
        multicastOverflow: fc.boolean()
      })
    })
  ),
  sim: {
    // the address lands in config space (§5.1.4 mac), which the driver reads back
    applied(cmd2, dev2) {
      if (cmd2.kind === "MAC_ADDR_SET") dev2.configMac.set(macBytes(cmd2.mac));
    }
  }
});

// src/cvq/classes/mq.ts
var E7 = __toESM(require_Either(), 1);
var VIRTIO_NET_CTRL_MQ = 4;
var VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET = 0;
var VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN = 1;
var VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX = 32768;
var mq = defineClass()({
  name: "MQ",
  cls: VIRTIO_NET_CTRL_MQ,
  section: "\xA75.1.6.5.5",
  commands: { MQ_VQ_PAIRS_SET: { code: VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, feature: "MQ" } },
  payloadLength: () => 2,
  encode(cmd2, buf, o) {
    putU16(buf, o, cmd2.pairs);
    return o + 2;
  },
  decode(r, kind) {
    if (r.remaining < 2) return shortPayload("the le16 virtqueue_pairs");
    return { kind, pairs: r.u16() };
  },
  describe: (cmd2) => `MQ_VQ_PAIRS_SET pairs=${cmd2.pairs}`,
  apply(state, cmd2, _negotiated, limits) {
    const p = cmd2.pairs;
    if (p < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || p > VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX || p > limits.maxQueuePairs) {
      return refuse(cmd2.kind, "queue-pairs", `${p} queue pairs outside 1..${limits.maxQueuePairs}`);
    }
    return p === state.queuePairs ? E7.right(state) : E7.right(produce(state, (d) => void (d.queuePairs = p)));
  },
  plan(state, { has: has2 }, out) {
    if (has2("MQ")) out.push({ kind: "MQ_VQ_PAIRS_SET", pairs: state.queuePairs });
  },
  // (RSS_CONFIG's max_tx_vq carries the queue pairs too: see rss.ts's view)
  view: (state, { has: has2 }) => has2("MQ") ? { queuePairs: state.queuePairs } : {},
  maximal: () => ({ queuePairs: 8 }),
  json: (k) => ({
    props: { queuePairs: k.intIn("queuePairs", 1, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX) },
    fields: { queuePairs: "queuePairs" },
    toState: (v) => ({ queuePairs: v.queuePairs }),
    fromState: (s) => ({ queuePairs: s.queuePairs })
  }),
  /** Values near the limits (0, 0x8000, 0x8001) and over the whole le16. */
  arbitraries: ({ fc, u16 }) => [
    fc.record({ kind: fc.constant("MQ_VQ_PAIRS_SET"), pairs: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.constantFrom(32768, 32769, 65535), u16) })
  ],
  arbitraryState: ({ fc }, { queuePairs }) => fc.constant({ queuePairs })
});

// src/cvq/classes/notf-coal.ts
var E8 = __toESM(require_Either(), 1);
var VIRTIO_NET_CTRL_NOTF_COAL = 6;
var VIRTIO_NET_CTRL_NOTF_COAL_TX_SET = 0;
var VIRTIO_NET_CTRL_NOTF_COAL_RX_SET = 1;
var notfCoal = defineClass()({
  name: "NOTF_COAL",
  cls: VIRTIO_NET_CTRL_NOTF_COAL,
  section: "\xA75.1.6.5.9",
  commands: {
    NOTF_COAL_TX_SET: { code: VIRTIO_NET_CTRL_NOTF_COAL_TX_SET, feature: "NOTF_COAL" },
    NOTF_COAL_RX_SET: { code: VIRTIO_NET_CTRL_NOTF_COAL_RX_SET, feature: "NOTF_COAL" }
  },
  payloadLength: () => 8,
  encode(cmd2, buf, o) {
    putU32(buf, o, cmd2.maxPackets);
    putU32(buf, o + 4, cmd2.maxUsecs);
    return o + 8;
  },
  decode(r, kind) {
    if (r.remaining < 8) return shortPayload("max_packets / max_usecs");
    return { kind, maxPackets: r.u32(), maxUsecs: r.u32() };
  },
  describe: (cmd2) => `${cmd2.kind} max_packets=${cmd2.maxPackets} max_usecs=${cmd2.maxUsecs}`,
  apply(state, cmd2) {
    const v = { maxPackets: cmd2.maxPackets, maxUsecs: cmd2.maxUsecs };
    const tx = cmd2.kind === "NOTF_COAL_TX_SET";
    return E8.right(
      produce(state, (d) => {
        const c = d.coalescing ?? { tx: { maxPackets: 0, maxUsecs: 0 }, rx: { maxPackets: 0, maxUsecs: 0 } };
        if (tx) c.tx = v;
        else c.rx = v;
        d.coalescing = c;
      })
    );
  },
  plan(state, { has: has2 }, out) {
    const c = state.coalescing;
    if (!has2("NOTF_COAL") || c === null) return;
    if (c.tx.maxPackets !== 0 || c.tx.maxUsecs !== 0) out.push({ kind: "NOTF_COAL_TX_SET", ...c.tx });
    if (c.rx.maxPackets !== 0 || c.rx.maxUsecs !== 0) out.push({ kind: "NOTF_COAL_RX_SET", ...c.rx });
  },
  view(state, { has: has2 }) {
    const c = state.coalescing;
    return { coalescing: has2("NOTF_COAL") && c !== null && (c.tx.maxPackets | c.tx.maxUsecs | c.rx.maxPackets | c.rx.maxUsecs) !== 0 ? c : null };
  },
  maximal: () => ({ coalescing: { tx: { maxPackets: 64, maxUsecs: 32 }, rx: { maxPackets: 16, maxUsecs: 8 } } }),
  json(k) {
    const coal = k.closed({ maxPackets: k.u32, maxUsecs: k.u32 }, "Coalescing");
    return {
      props: { coalescing: k.nullable(k.closed({ tx: coal, rx: coal }, "NotfCoal")) },
      fields: { coalescing: "coalescing" },
      toState: (v) => ({ coalescing: v.coalescing }),
      fromState: (s) => ({ coalescing: s.coalescing === null ? null : { tx: { ...s.coalescing.tx }, rx: { ...s.coalescing.rx } } })
    };
  },
  arbitraries: ({ fc, small }) => [fc.record({ kind: fc.constantFrom("NOTF_COAL_TX_SET", "NOTF_COAL_RX_SET"), maxPackets: small, maxUsecs: small })],
  arbitraryState({ fc, small }) {
    const coal = fc.record({ maxPackets: small, maxUsecs: small });
    return fc.record({ coalescing: fc.option(fc.record({ tx: coal, rx: coal }), { nil: null }) });
  }
});

// src/cvq/classes/offloads.ts
var E9 = __toESM(require_Either(), 1);
var VIRTIO_NET_CTRL_GUEST_OFFLOADS = 5;
var VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET = 0;
var offloads = defineClass()({
  name: "GUEST_OFFLOADS",
  cls: VIRTIO_NET_CTRL_GUEST_OFFLOADS,
  section: "\xA75.1.6.5.6",
  commands: { GUEST_OFFLOADS_SET: { code: VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET, feature: "CTRL_GUEST_OFFLOADS" } },
  payloadLength: () => 8,
  encode(cmd2, buf, o) {
    putU32(buf, o, Number(cmd2.offloads & 0xffffffffn));
    putU32(buf, o + 4, Number(cmd2.offloads >> 32n & 0xffffffffn));
    return o + 8;
  },
  decode(r, kind) {
    if (r.remaining < 8) return shortPayload("the le64 offloads");
    const lo = r.u32();
    const hi = r.u32();
    return { kind, offloads: BigInt(hi) << 32n | BigInt(lo) };
  },
  describe: (cmd2) => `GUEST_OFFLOADS_SET 0x${cmd2.offloads.toString(16)}`,
  apply(state, cmd2, negotiated2) {
    const allowed = negotiated2 & GUEST_OFFLOAD_FEATURES;
    const extra = cmd2.offloads & ~allowed;
    if (extra !== 0n) {
      return refuse(cmd2.kind, "offloads", `offloads 0x${extra.toString(16)} not among the negotiated guest offloads 0x${allowed.toString(16)} (\xA75.1.6.5.6.1)`);
    }
    return E9.right(produce(state, (d) => void (d.guestOffloads = cmd2.offloads)));
  },
  // only offloads the destination negotiated can be enabled; equal to the reset value = nothing to send
  plan(state, { has: has2, negotiated: negotiated2 }, out) {
    if (!has2("CTRL_GUEST_OFFLOADS")) return;
    const negotiatedOffloads = negotiated2 & GUEST_OFFLOAD_FEATURES;
    const offloads2 = state.guestOffloads & negotiatedOffloads;
    if (offloads2 !== negotiatedOffloads) out.push({ kind: "GUEST_OFFLOADS_SET", offloads: offloads2 });
  },
  view: (state, { has: has2, negotiated: negotiated2, reset }) => ({
    guestOffloads: has2("CTRL_GUEST_OFFLOADS") ? state.guestOffloads & negotiated2 & GUEST_OFFLOAD_FEATURES : reset.guestOffloads
  }),
  maximal: () => ({ guestOffloads: 0x182n }),
  /**
   * "0x…" le64. Any 64-bit mask decodes; only the guest-offload features the destination negotiates
   * (GUEST_CSUM … GUEST_USO6) can be restored, and the view and the plan mask the rest.
   */
  json: (k) => ({
    props: { guestOffloads: k.offloadsHex },
    fields: { guestOffloads: "guestOffloads" },
    toState: (v) => ({ guestOffloads: v.guestOffloads }),
    fromState: (s) => ({ guestOffloads: `0x${s.guestOffloads.toString(16)}` })
  }),
  arbitraries: ({ fc, u64, subsetOf }) => [fc.record({ kind: fc.constant("GUEST_OFFLOADS_SET"), offloads: fc.oneof(u64, subsetOf(GUEST_OFFLOAD_FEATURES)) })],
  /** The profile's offloads or any 64 bits (the device keeps what it was given). */
  arbitraryState: ({ fc, u64, subsetOf }) => fc.record({ guestOffloads: fc.oneof(subsetOf(GUEST_OFFLOAD_FEATURES), u64) })
});

// src/cvq/classes/rss.ts
var E10 = __toESM(require_Either(), 1);
var VIRTIO_NET_CTRL_MQ_RSS_CONFIG = 1;
var VIRTIO_NET_CTRL_MQ_HASH_CONFIG = 2;
var BENCH_KEY = "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa";
var isPowerOfTwo2 = (n) => n > 0 && (n & n - 1) === 0;
var keyBytes = (hex4) => fromHex(hex4) ?? new Uint8Array(0);
function checkHash(kind, limits, hashTypes2, keyLen) {
  if ((hashTypes2 & ~limits.supportedHashTypes) !== 0) {
    return refuse(kind, "hash-types", `hash types 0x${hashTypes2.toString(16)} outside supported 0x${limits.supportedHashTypes.toString(16)}`);
  }
  if (keyLen > limits.rssMaxKeySize) return refuse(kind, "key-size", `${keyLen}-byte key exceeds rss_max_key_size ${limits.rssMaxKeySize}`);
  return void 0;
}
function applyRss(state, cmd2, negotiated2, limits) {
  const kind = cmd2.kind;
  const len = cmd2.indirectionTable.length;
  if (!isPowerOfTwo2(len) || len > limits.rssMaxIndirectionTableLength) {
    return refuse(kind, "rss-table", `indirection table of ${len} entries: not a power of two \u2264 ${limits.rssMaxIndirectionTableLength}`);
  }
  const pairs = cmd2.maxTxVq;
  if (pairs < 1 || pairs > limits.maxQueuePairs) return refuse(kind, "queue-pairs", `max_tx_vq ${pairs} outside 1..${limits.maxQueuePairs}`);
  if (cmd2.unclassifiedQueue >= pairs) return refuse(kind, "rss-queue", `unclassified_queue ${cmd2.unclassifiedQueue} \u2265 ${pairs} queue pairs`);
  for (let i = 0; i < len; i++) {
    if (cmd2.indirectionTable[i] >= pairs) return refuse(kind, "rss-queue", `indirection_table[${i}] = ${cmd2.indirectionTable[i]} \u2265 ${pairs} queue pairs`);
  }
  const bad = checkHash(kind, limits, cmd2.hashTypes, cmd2.key.length);
  if (bad !== void 0) return bad;
  const key = toHex(cmd2.key);
  const on = cmd2.hashTypes !== 0;
  const report = on && hasFeature(negotiated2, "HASH_REPORT");
  return E10.right(
    produce(state, (d) => {
      d.queuePairs = pairs;
      d.rss = on ? { hashTypes: cmd2.hashTypes, indirectionTable: [...cmd2.indirectionTable], unclassifiedQueue: cmd2.unclassifiedQueue, key } : null;
      d.hashReport = report ? { hashTypes: cmd2.hashTypes, key } : null;
    })
  );
}
function rssIssues(r, queuePairs) {
  const issues = [];
  const len = r.indirectionTable.length;
  if (len === 0 || (len & len - 1) !== 0) issues.push({ path: "rss.indirectionTable", message: `length ${len} is not a power of two (\xA75.1.6.5.7.1)` });
  r.indirectionTable.forEach((q, i) => {
    if (q >= queuePairs) issues.push({ path: `rss.indirectionTable[${i}]`, message: `queue ${q} \u2265 queuePairs ${queuePairs}` });
  });
  if (r.unclassifiedQueue >= queuePairs) issues.push({ path: "rss.unclassifiedQueue", message: `queue ${r.unclassifiedQueue} \u2265 queuePairs ${queuePairs}` });
  return issues;
}
var rss = defineClass()({
  name: "RSS",
  cls: VIRTIO_NET_CTRL_MQ,
  section: "\xA75.1.6.5.7",
  commands: {
    MQ_RSS_CONFIG: { code: VIRTIO_NET_CTRL_MQ_RSS_CONFIG, feature: "RSS" },
    MQ_HASH_CONFIG: { code: VIRTIO_NET_CTRL_MQ_HASH_CONFIG, feature: "HASH_REPORT" }
  },
  payloadLength: (cmd2) => cmd2.kind === "MQ_RSS_CONFIG" ? 4 + 2 + 2 + 2 * cmd2.indirectionTable.length + 2 + 1 + cmd2.key.length : 4 + 8 + 1 + cmd2.key.length,
  encode(cmd2, buf, o) {
    putU32(buf, o, cmd2.hashTypes);
    if (cmd2.kind === "MQ_HASH_CONFIG") {
      buf.fill(0, o + 4, o + 12);
      buf[o + 12] = cmd2.key.length;
      buf.set(cmd2.key, o + 13);
      return o + 13 + cmd2.key.length;
    }
    const t5 = cmd2.indirectionTable;
    putU16(buf, o + 4, t5.length - 1);
    putU16(buf, o + 6, cmd2.unclassifiedQueue);
    o += 8;
    for (let i = 0; i < t5.length; i++, o += 2) putU16(buf, o, t5[i]);
    putU16(buf, o, cmd2.maxTxVq);
    buf[o + 2] = cmd2.key.length;
    buf.set(cmd2.key, o + 3);
    return o + 3 + cmd2.key.length;
  },
  decode(r, kind) {
    if (kind === "MQ_HASH_CONFIG") {
      if (r.remaining < 13) return shortPayload("hash_types / reserved / hash_key_length");
      const hashTypes3 = r.u32();
      let reserved = 0;
      for (let i = 0; i < 4; i++) reserved |= r.u16();
      if (reserved !== 0) return decodeFail("reserved-nonzero", "reserved[4] must be zero (\xA75.1.6.5.7.3)");
      const keyLen2 = r.u8();
      if (r.remaining < keyLen2) return shortPayload(`the ${keyLen2}-byte hash key`);
      return { kind, hashTypes: hashTypes3, key: r.bytes(keyLen2) };
    }
    if (r.remaining < 8) return shortPayload("hash_types / indirection_table_mask / unclassified_queue");
    const hashTypes2 = r.u32();
    const mask = r.u16();
    const unclassifiedQueue = r.u16();
    const len = mask + 1;
    if (r.remaining < 2 * len + 3) return shortPayload(`the ${len}-entry indirection table, max_tx_vq and hash_key_length`);
    const indirectionTable = new Array(len);
    for (let i = 0; i < len; i++) indirectionTable[i] = r.u16();
    const maxTxVq = r.u16();
    const keyLen = r.u8();
    if (r.remaining < keyLen) return shortPayload(`the ${keyLen}-byte hash key`);
    return { kind, hashTypes: hashTypes2, indirectionTable, unclassifiedQueue, maxTxVq, key: r.bytes(keyLen) };
  },
  describe: (cmd2) => cmd2.kind === "MQ_RSS_CONFIG" ? `MQ_RSS_CONFIG hash_types=0x${cmd2.hashTypes.toString(16)} table=${cmd2.indirectionTable.length} unclassified=${cmd2.unclassifiedQueue} max_tx_vq=${cmd2.maxTxVq} key=${cmd2.key.length}B` : `MQ_HASH_CONFIG hash_types=0x${cmd2.hashTypes.toString(16)} key=${cmd2.key.length}B`,
  apply(state, cmd2, negotiated2, limits) {
    if (cmd2.kind === "MQ_RSS_CONFIG") return applyRss(state, cmd2, negotiated2, limits);
    const bad = checkHash(cmd2.kind, limits, cmd2.hashTypes, cmd2.key.length);
    if (bad !== void 0) return bad;
    return E10.right(
      produce(state, (d) => {
        d.rss = null;
        d.hashReport = cmd2.hashTypes !== 0 ? { hashTypes: cmd2.hashTypes, key: toHex(cmd2.key) } : null;
      })
    );
  },
  // RSS with max_tx_vq = the queue pairs, else the hash report alone; a disabled one is not sent
  plan(state, { has: has2 }, out) {
    const r = state.rss;
    const hr = state.hashReport;
    if (has2("RSS") && r !== null && r.hashTypes !== 0) {
      out.push({ kind: "MQ_RSS_CONFIG", hashTypes: r.hashTypes, indirectionTable: r.indirectionTable, unclassifiedQueue: r.unclassifiedQueue, maxTxVq: state.queuePairs, key: keyBytes(r.key) });
    } else if (has2("HASH_REPORT") && hr !== null && hr.hashTypes !== 0) {
      out.push({ kind: "MQ_HASH_CONFIG", hashTypes: hr.hashTypes, key: keyBytes(hr.key) });
    }
  },
  view(state, { has: has2 }) {
    const r = has2("RSS") && state.rss !== null && state.rss.hashTypes !== 0 ? state.rss : null;
    const hr = state.hashReport;
    const hashReport = !has2("HASH_REPORT") ? null : r !== null ? { hashTypes: r.hashTypes, key: r.key } : hr !== null && hr.hashTypes !== 0 ? hr : null;
    return r !== null ? { rss: r, hashReport, queuePairs: state.queuePairs } : { rss: r, hashReport };
  },
  /** A 128-entry table over 8 queues with a 40-byte key. */
  maximal: () => ({ rss: { hashTypes: 63, indirectionTable: Array.from({ length: 128 }, (_, i) => i % 8), unclassifiedQueue: 0, key: BENCH_KEY }, hashReport: null }),
  json: (k) => ({
    props: {
      rss: k.nullable(
        k.closed({ hashTypes: k.hashTypes, indirectionTable: k.arrayOf(k.intIn("queue", 0, 65535), "queue[]"), unclassifiedQueue: k.intIn("queue", 0, 65535), key: k.keyHex }, "Rss")
      ),
      hashReport: k.nullable(k.closed({ hashTypes: k.hashTypes, key: k.keyHex }, "HashReport"))
    },
    fields: { rss: "rss", hashReport: "hashReport" },
    toState: (v) => ({ rss: v.rss, hashReport: v.hashReport }),
    fromState: (s) => ({
      rss: s.rss === null ? null : { ...s.rss, indirectionTable: [...s.rss.indirectionTable] },
      hashReport: s.hashReport === null ? null : { ...s.hashReport }
    }),
    check: (v, doc) => v.rss === null ? [] : rssIssues(v.rss, doc.queuePairs)
  }),
  arbitraries: ({ fc, u16, u32: u322, key }) => [
    fc.integer({ min: 0, max: 8 }).chain(
      (lg) => fc.record({
        kind: fc.constant("MQ_RSS_CONFIG"),
        hashTypes: fc.oneof(fc.integer({ min: 0, max: VIRTIO_NET_RSS_HASH_TYPE_ALL }), u322),
        indirectionTable: fc.array(fc.oneof(fc.integer({ min: 0, max: 9 }), u16), { minLength: 1 << lg, maxLength: 1 << lg }),
        unclassifiedQueue: fc.oneof(fc.integer({ min: 0, max: 9 }), u16),
        maxTxVq: fc.oneof(fc.integer({ min: 0, max: 10 }), u16),
        key: key(64)
      })
    ),
    fc.record({ kind: fc.constant("MQ_HASH_CONFIG"), hashTypes: fc.oneof(fc.integer({ min: 0, max: VIRTIO_NET_RSS_HASH_TYPE_ALL }), u322), key: key(64) })
  ],
  arbitraryState({ fc, key: keyArb }, { limits, queuePairs }) {
    const queue = fc.integer({ min: 0, max: queuePairs - 1 });
    const hash = fc.integer({ min: 0, max: VIRTIO_NET_RSS_HASH_TYPE_ALL }).map((h) => h & limits.supportedHashTypes);
    const key = keyArb(limits.rssMaxKeySize).map((b) => toHex(b));
    const tableLen = fc.integer({ min: 0, max: Math.log2(limits.rssMaxIndirectionTableLength) }).map((lg) => 1 << lg);
    return fc.record({
      rss: fc.option(
        tableLen.chain((n) => fc.record({ hashTypes: hash, indirectionTable: fc.array(queue, { minLength: n, maxLength: n }), unclassifiedQueue: queue, key })),
        { nil: null }
      ),
      hashReport: fc.option(fc.record({ hashTypes: hash, key }), { nil: null })
    });
  }
});

// src/cvq/classes/rx.ts
var E11 = __toESM(require_Either(), 1);
var t2 = __toESM(require_lib(), 1);
var VIRTIO_NET_CTRL_RX = 0;
var VIRTIO_NET_CTRL_RX_PROMISC = 0;
var VIRTIO_NET_CTRL_RX_ALLMULTI = 1;
var VIRTIO_NET_CTRL_RX_ALLUNI = 2;
var VIRTIO_NET_CTRL_RX_NOMULTI = 3;
var VIRTIO_NET_CTRL_RX_NOUNI = 4;
var VIRTIO_NET_CTRL_RX_NOBCAST = 5;
var RX_KINDS = ["RX_PROMISC", "RX_ALLMULTI", "RX_ALLUNI", "RX_NOMULTI", "RX_NOUNI", "RX_NOBCAST"];
var RX_FIELD = {
  RX_PROMISC: "promisc",
  RX_ALLMULTI: "allmulti",
  RX_ALLUNI: "alluni",
  RX_NOMULTI: "nomulti",
  RX_NOUNI: "nouni",
  RX_NOBCAST: "nobcast"
};
var rx = defineClass()({
  name: "RX",
  cls: VIRTIO_NET_CTRL_RX,
  section: "\xA75.1.6.5.1",
  commands: {
    RX_PROMISC: { code: VIRTIO_NET_CTRL_RX_PROMISC, feature: "CTRL_RX" },
    RX_ALLMULTI: { code: VIRTIO_NET_CTRL_RX_ALLMULTI, feature: "CTRL_RX" },
    RX_ALLUNI: { code: VIRTIO_NET_CTRL_RX_ALLUNI, feature: "CTRL_RX_EXTRA" },
    RX_NOMULTI: { code: VIRTIO_NET_CTRL_RX_NOMULTI, feature: "CTRL_RX_EXTRA" },
    RX_NOUNI: { code: VIRTIO_NET_CTRL_RX_NOUNI, feature: "CTRL_RX_EXTRA" },
    RX_NOBCAST: { code: VIRTIO_NET_CTRL_RX_NOBCAST, feature: "CTRL_RX_EXTRA" }
  },
  payloadLength: () => 1,
  encode(cmd2, buf, o) {
    buf[o] = cmd2.on ? 1 : 0;
    return o + 1;
  },
  decode(r, kind) {
    if (r.remaining < 1) return shortPayload("the u8 on/off");
    const v = r.u8();
    if (v > 1) return decodeFail("bad-value", `on/off byte is ${v}, not 0 or 1 (\xA75.1.6.5.1)`);
    return { kind, on: v === 1 };
  },
  describe: (cmd2) => `${cmd2.kind} ${cmd2.on ? 1 : 0}`,
  apply(state, cmd2) {
    const field = RX_FIELD[cmd2.kind];
    const on = cmd2.on;
    return state.rxMode[field] === on ? E11.right(state) : E11.right(produce(state, (d) => void (d.rxMode[field] = on)));
  },
  plan(state, { has: has2 }, out) {
    const r = state.rxMode;
    const t5 = state.macTable;
    if (has2("CTRL_RX")) {
      if (!r.promisc && !t5.unicastOverflow) out.push({ kind: "RX_PROMISC", on: false });
      if (r.allmulti || t5.multicastOverflow) out.push({ kind: "RX_ALLMULTI", on: true });
    }
    if (has2("CTRL_RX_EXTRA")) {
      if (r.alluni) out.push({ kind: "RX_ALLUNI", on: true });
      if (r.nomulti) out.push({ kind: "RX_NOMULTI", on: true });
      if (r.nouni) out.push({ kind: "RX_NOUNI", on: true });
      if (r.nobcast) out.push({ kind: "RX_NOBCAST", on: true });
    }
  },
  view(state, { has: has2 }) {
    const ctrlRx = has2("CTRL_RX");
    const extra = has2("CTRL_RX_EXTRA");
    const t5 = state.macTable;
    const r = state.rxMode;
    return {
      rxMode: {
        promisc: ctrlRx ? r.promisc || t5.unicastOverflow : true,
        allmulti: ctrlRx ? r.allmulti || t5.multicastOverflow : false,
        alluni: extra && r.alluni,
        nomulti: extra && r.nomulti,
        nouni: extra && r.nouni,
        nobcast: extra && r.nobcast
      }
    };
  },
  maximal: () => ({ rxMode: { promisc: false, allmulti: true, alluni: false, nomulti: false, nouni: false, nobcast: true } }),
  json: (k) => ({
    props: { rxMode: k.closed({ promisc: t2.boolean, allmulti: t2.boolean, alluni: t2.boolean, nomulti: t2.boolean, nouni: t2.boolean, nobcast: t2.boolean }, "RxMode") },
    fields: { rxMode: "rxMode" },
    toState: (v) => ({ rxMode: v.rxMode }),
    fromState: (s) => ({ rxMode: { ...s.rxMode } })
  }),
  arbitraries: ({ fc }) => [fc.record({ kind: fc.constantFrom(...RX_KINDS), on: fc.boolean() })],
  arbitraryState: ({ fc }) => fc.record({ rxMode: fc.record({ promisc: fc.boolean(), allmulti: fc.boolean(), alluni: fc.boolean(), nomulti: fc.boolean(), nouni: fc.boolean(), nobcast: fc.boolean() }) })
});

// src/cvq/classes/vlan.ts
var E12 = __toESM(require_Either(), 1);

// src/state/net-state.ts
var VLAN_WORDS = MAX_VLAN >> 5;
var DEFAULT_LIMITS = {
  maxQueuePairs: 8,
  rssMaxIndirectionTableLength: 128,
  rssMaxKeySize: VIRTIO_NET_RSS_KEY_SIZE,
  supportedHashTypes: VIRTIO_NET_RSS_HASH_TYPE_ALL,
  macTableEntries: QEMU_MAC_TABLE_ENTRIES
};
var RX_MODE_RESET = Object.freeze({
  promisc: true,
  // QEMU virtio_net_reset: promiscuous on at reset, for drivers without CTRL_RX
  allmulti: false,
  alluni: false,
  nomulti: false,
  nouni: false,
  nobcast: false
});
var EMPTY_VLAN_FILTER = Object.freeze(new Array(VLAN_WORDS).fill(0));
function resetNetState(mac2, negotiated2 = 0n) {
  return freeze({
    mac: mac2,
    queuePairs: 1,
    rxMode: RX_MODE_RESET,
    macTable: { unicast: [], multicast: [], unicastOverflow: false, multicastOverflow: false },
    vlanFilter: EMPTY_VLAN_FILTER,
    guestOffloads: negotiated2 & GUEST_OFFLOAD_FEATURES,
    rss: null,
    hashReport: null,
    coalescing: null
  }, true);
}
function vlanList(filter) {
  const out = [];
  for (let w = 0; w < VLAN_WORDS; w++) {
    let word = filter[w];
    while (word !== 0) {
      const bit = 31 - Math.clz32(word & -word);
      out.push(w << 5 | bit);
      word &= word - 1;
    }
  }
  return out;
}
function vlanFilterOf(vids) {
  const f = new Array(VLAN_WORDS).fill(0);
  for (const v of vids) f[v >> 5] = (f[v >> 5] | 1 << (v & 31)) >>> 0;
  return f;
}
var NET_STATE_FIELDS = Object.keys(resetNetState("00:00:00:00:00:00"));

// src/cvq/classes/vlan.ts
var VIRTIO_NET_CTRL_VLAN = 2;
var VIRTIO_NET_CTRL_VLAN_ADD = 0;
var VIRTIO_NET_CTRL_VLAN_DEL = 1;
var vlan = defineClass()({
  name: "VLAN",
  cls: VIRTIO_NET_CTRL_VLAN,
  section: "\xA75.1.6.5.3",
  commands: {
    VLAN_ADD: { code: VIRTIO_NET_CTRL_VLAN_ADD, feature: "CTRL_VLAN" },
    VLAN_DEL: { code: VIRTIO_NET_CTRL_VLAN_DEL, feature: "CTRL_VLAN" }
  },
  payloadLength: () => 2,
  encode(cmd2, buf, o) {
    putU16(buf, o, cmd2.vid);
    return o + 2;
  },
  decode(r, kind) {
    if (r.remaining < 2) return shortPayload("the le16 vid");
    return { kind, vid: r.u16() };
  },
  describe: (cmd2) => `${cmd2.kind} vid=${cmd2.vid}`,
  apply(state, cmd2) {
    const vid = cmd2.vid;
    if (vid >= MAX_VLAN) return refuse(cmd2.kind, "vlan-id", `vid ${vid} \u2265 ${MAX_VLAN}`);
    const w = vid >> 5;
    const bit = 1 << (vid & 31);
    const word = state.vlanFilter[w];
    const next = (cmd2.kind === "VLAN_ADD" ? word | bit : word & ~bit) >>> 0;
    if (next === word) return E12.right(state);
    const filter = [...state.vlanFilter];
    filter[w] = next;
    return E12.right(Object.freeze({ ...state, vlanFilter: Object.freeze(filter) }));
  },
  plan(state, { has: has2 }, out) {
    if (has2("CTRL_VLAN")) for (const vid of vlanList(state.vlanFilter)) out.push({ kind: "VLAN_ADD", vid });
  },
  view: (state, { has: has2, reset }) => ({ vlanFilter: has2("CTRL_VLAN") ? state.vlanFilter : reset.vlanFilter }),
  /** Every VLAN id but 0 and 4095: 4094 VLAN_ADDs. */
  maximal: () => ({ vlanFilter: vlanFilterOf(Array.from({ length: 4094 }, (_, i) => i + 1)) }),
  json: (k) => ({
    props: { vlans: k.arrayOf(k.intIn("vid", 0, MAX_VLAN - 1), "vid[]") },
    fields: { vlans: "vlanFilter" },
    toState: (v) => ({ vlanFilter: vlanFilterOf(v.vlans) }),
    fromState: (s) => ({ vlans: vlanList(s.vlanFilter) })
  }),
  arbitraries: ({ fc, u16 }) => [
    fc.record({ kind: fc.constantFrom("VLAN_ADD", "VLAN_DEL"), vid: fc.oneof(fc.integer({ min: 0, max: 4095 }), fc.constantFrom(4096, 65535), u16) })
  ],
  /** Filters with the edge ids 0 and 4095. */
  arbitraryState: ({ fc }) => fc.record({
    vlanFilter: fc.oneof(fc.uniqueArray(fc.integer({ min: 0, max: 4095 }), { maxLength: 40 }), fc.constant([0, 4095]), fc.constant([])).map((v) => vlanFilterOf(v))
  })
});

// src/cvq/classes/index.ts
var CVQ_CLASSES = [mac, mq, rss, offloads, rx, vlan, notfCoal, announce];
var CLASSES = CVQ_CLASSES;
var KINDS = CLASSES.flatMap(
  (klass) => Object.entries(klass.commands).map(([kind, info]) => ({ kind, cls: klass.cls, code: info.code, feature: info.feature, klass }))
);
var CLASS_OF_KIND = Object.fromEntries(KINDS.map((k) => [k.kind, k.klass]));
var KIND_INFO = Object.fromEntries(KINDS.map((k) => [k.kind, k]));
var KIND_BY_CODE = new Map(KINDS.map((k) => [k.cls << 8 | k.code, k]));

// src/state/apply.ts
var E13 = __toESM(require_Either(), 1);
var REQUIRED_FEATURE = Object.fromEntries(KINDS.map((k) => [k.kind, k.feature]));
var commandAllowed = (kind, negotiated2) => hasFeature(negotiated2, "CTRL_VQ") && hasFeature(negotiated2, REQUIRED_FEATURE[kind]);
function applyCommand(state, negotiated2, limits, cmd2) {
  const kind = cmd2.kind;
  if (!commandAllowed(kind, negotiated2)) {
    const need = hasFeature(negotiated2, "CTRL_VQ") ? REQUIRED_FEATURE[kind] : "CTRL_VQ";
    return refuse(kind, "not-negotiated", `${need} not negotiated`);
  }
  return CLASS_OF_KIND[kind].apply(state, cmd2, negotiated2, limits);
}
function applyAll(state, negotiated2, limits, cmds) {
  let s = state;
  let i = 0;
  for (const c of cmds) {
    const r = applyCommand(s, negotiated2, limits, c);
    if (E13.isLeft(r)) return E13.left({ ...r.left, index: i });
    s = r.right;
    i++;
  }
  return E13.right(s);
}

// src/virtio/cvq.ts
var E14 = __toESM(require_Either(), 1);
var COMMAND_CODES = Object.fromEntries(KINDS.map((k) => [k.kind, [k.cls, k.code]]));
var kindOf = (cls, cmd2) => KIND_BY_CODE.get(cls << 8 | cmd2)?.kind;
var commandClass = (cmd2) => COMMAND_CODES[cmd2.kind][0];
var commandCode = (cmd2) => COMMAND_CODES[cmd2.kind][1];
var payloadLength = (cmd2) => KIND_INFO[cmd2.kind].klass.payloadLength(cmd2);
var encodedLength = (cmd2) => CTRL_HDR_LEN + payloadLength(cmd2);
function encodeCommandInto(cmd2, buf, off) {
  const k = KIND_INFO[cmd2.kind];
  buf[off] = k.cls;
  buf[off + 1] = k.code;
  return k.klass.encode(cmd2, buf, off + CTRL_HDR_LEN) - off;
}
function encodeCommand(cmd2) {
  const b = new Uint8Array(encodedLength(cmd2));
  encodeCommandInto(cmd2, b, 0);
  return b;
}
var encodePayload = (cmd2) => encodeCommand(cmd2).subarray(CTRL_HDR_LEN);
var decodeError = (reason, message, cls, cmd2, kind) => ({
  _tag: "CvqDecodeError",
  reason,
  ...cls === void 0 ? {} : { cls },
  ...cmd2 === void 0 ? {} : { cmd: cmd2 },
  ...kind === void 0 ? {} : { kind },
  message
});
function decodeCommand(segments) {
  const r = new WireReader(segments);
  if (r.remaining < CTRL_HDR_LEN) return E14.left(decodeError("short-header", `CVQ command of ${r.remaining} byte(s): the header is 2`));
  const cls = r.u8();
  const code = r.u8();
  const k = KIND_BY_CODE.get(cls << 8 | code);
  if (k === void 0) {
    return E14.left(decodeError("unknown-command", `unknown CVQ command class ${cls} command ${code}`, cls, code));
  }
  const kind = k.kind;
  const body = k.klass.decode(r, kind);
  if (isFail(body)) return E14.left(decodeError(body.reason, `${kind}: ${body.what}`, cls, code, kind));
  if (r.remaining !== 0) return E14.left(decodeError("long-payload", `${kind}: ${r.remaining} byte(s) after the command data`, cls, code, kind));
  return E14.right(body);
}
var describeCommand = (cmd2) => KIND_INFO[cmd2.kind].klass.describe(cmd2);

// src/device/sim/net-model.ts
var ModelCvq = class {
  constructor(mac2, limits) {
    this.limits = limits;
    this.current = resetNetState(mac2);
    this.syncMac();
  }
  limits;
  current;
  configMac = new Uint8Array(ETH_ALEN);
  announcePending = false;
  beginPass() {
  }
  handle(bytes, negotiated2) {
    const cmd2 = decodeCommand([bytes]);
    if (E15.isLeft(cmd2)) return { ack: VIRTIO_NET_ERR, reason: cmd2.left.message };
    const rule = CLASS_OF_KIND[cmd2.right.kind].sim;
    const refused = rule?.refuse?.(cmd2.right, this);
    if (refused !== void 0) return { ack: VIRTIO_NET_ERR, reason: refused };
    const next = applyCommand(this.current, negotiated2, this.limits, cmd2.right);
    if (E15.isLeft(next)) return { ack: VIRTIO_NET_ERR, reason: next.left.message };
    this.current = next.right;
    rule?.applied?.(cmd2.right, this, this.current);
    return { ack: VIRTIO_NET_OK, reason: "applied" };
  }
  state() {
    return this.current;
  }
  reset(mac2, negotiated2) {
    this.current = resetNetState(mac2, negotiated2);
    this.announcePending = false;
    this.syncMac();
  }
  syncMac() {
    this.configMac.set(macBytes(this.current.mac));
  }
};
var VdpaSimNetCvq = class {
  constructor(mac2, staleAck) {
    this.staleAck = staleAck;
    this.current = resetNetState(mac2);
    this.configMac.set(macBytes(mac2));
  }
  staleAck;
  configMac = new Uint8Array(ETH_ALEN);
  /** vdpa_sim_net offers no GUEST_ANNOUNCE: never set. */
  announcePending = false;
  current;
  /** vdpasim_handle_cvq's `status`: initialised to ERR once per pass. */
  status = VIRTIO_NET_ERR;
  beginPass() {
    this.status = VIRTIO_NET_ERR;
  }
  handle(bytes, _negotiated) {
    const cls = bytes[0];
    const cmd2 = bytes[1];
    if (cls === VIRTIO_NET_CTRL_MAC) {
      let st = VIRTIO_NET_ERR;
      if (cmd2 === VIRTIO_NET_CTRL_MAC_ADDR_SET) {
        const n = Math.min(ETH_ALEN, bytes.length - 2);
        for (let i = 0; i < n; i++) this.configMac[i] = bytes[2 + i];
        if (n > 0) this.current = produce(this.current, (d) => void (d.mac = formatMac(this.configMac)));
        if (n === ETH_ALEN) st = VIRTIO_NET_OK;
      }
      this.status = st;
      return { ack: st, reason: st === VIRTIO_NET_OK ? "MAC_ADDR_SET applied" : "vdpa_sim_net: MAC command refused" };
    }
    if (!this.staleAck) this.status = VIRTIO_NET_ERR;
    return { ack: this.status, reason: this.status === VIRTIO_NET_OK ? "vdpa_sim_net stale ack (not applied)" : "vdpa_sim_net: class not supported" };
  }
  state() {
    return this.current;
  }
  /** The MAC in config space survives a reset on vdpa_sim_net (observed); `mac` is ignored. */
  reset(_mac, negotiated2) {
    this.current = resetNetState(formatMac(this.configMac), negotiated2);
    this.status = VIRTIO_NET_ERR;
  }
};

// src/device/sim/profiles.ts
var VDPA_SIM_BACKEND_FEATURES = backendMask(["IOTLB_MSG_V2", "IOTLB_BATCH", "IOTLB_ASID", "SUSPEND", "RESUME", "ENABLE_AFTER_DRIVER_OK", "IOTLB_PERSIST"]);
var VDPA_SIM_NET_FEATURES = maskOf(["MTU", "MAC", "STATUS", "CTRL_VQ", "CTRL_MAC_ADDR", "ANY_LAYOUT", "VERSION_1", "ACCESS_PLATFORM"]);
var SIM_CVQ_FEATURES = maskOf(["CTRL_VQ", ...KINDS.map((k) => k.feature)]);
var SIM_FULL_FEATURES = SIM_CVQ_FEATURES | maskOf([
  "CSUM",
  "GUEST_CSUM",
  "MTU",
  "MAC",
  "GUEST_TSO4",
  "GUEST_TSO6",
  "GUEST_ECN",
  "GUEST_UFO",
  "GUEST_USO4",
  "GUEST_USO6",
  "HOST_TSO4",
  "HOST_TSO6",
  "HOST_ECN",
  "HOST_UFO",
  "HOST_USO",
  "MRG_RXBUF",
  "STATUS",
  "ANY_LAYOUT",
  "INDIRECT_DESC",
  "EVENT_IDX",
  "VERSION_1",
  "ACCESS_PLATFORM",
  "RING_PACKED"
]);
var PROFILES = {
  vdpa_sim_net: {
    name: "vdpa_sim_net",
    deviceFeatures: VDPA_SIM_NET_FEATURES,
    backendFeatures: VDPA_SIM_BACKEND_FEATURES,
    maxQueuePairs: 1,
    vringNum: 256,
    configSize: NET_CONFIG.size,
    mtu: 1500,
    speed: 0,
    duplex: 0,
    rssMaxKeySize: 0,
    rssMaxIndirectionTableLength: 0,
    supportedHashTypes: 0,
    groupNum: 2,
    asNum: 2,
    iovaFirst: 0,
    iovaLast: MAX_SAFE_ADDR,
    featureCheck: "mask",
    cvq: "vdpa_sim_net",
    macSurvivesReset: true,
    needsResetOnError: false,
    rxOverrun: "drop",
    rxFilter: "vdpa_sim_net",
    txMaxBytes: 4096,
    rxSetsNumBuffers: false,
    txBudget: 5
  },
  full: {
    name: "full",
    deviceFeatures: SIM_FULL_FEATURES,
    backendFeatures: VDPA_SIM_BACKEND_FEATURES,
    maxQueuePairs: 8,
    vringNum: 1024,
    configSize: NET_CONFIG.size,
    mtu: 1500,
    speed: 1e5,
    duplex: 1,
    rssMaxKeySize: 40,
    rssMaxIndirectionTableLength: 128,
    supportedHashTypes: VIRTIO_NET_RSS_HASH_TYPE_ALL,
    groupNum: 2,
    asNum: 2,
    iovaFirst: 0,
    iovaLast: MAX_SAFE_ADDR,
    featureCheck: "refuse",
    cvq: "model",
    macSurvivesReset: false,
    needsResetOnError: true,
    rxOverrun: "backpressure",
    rxFilter: "model",
    txMaxBytes: 65550 + 20,
    rxSetsNumBuffers: true,
    txBudget: 256
  }
};

// src/device/sim/options.ts
var VIRTIO_ID_NET = 1;
var CVQ_MAX_COMMAND = 1 << 20;
var newStats = () => ({
  kicks: 0,
  calls: 0,
  chains: 0,
  cvqCommands: 0,
  acksOk: 0,
  acksErr: 0,
  txPackets: 0,
  txBytes: 0,
  rxPackets: 0,
  rxBytes: 0,
  rxDrops: 0,
  rxOverruns: 0,
  rxTruncated: 0,
  iotlbUpdates: 0,
  iotlbInvalidates: 0,
  iotlbBatches: 0,
  deviceErrors: 0
});
var profileOf = (opts) => typeof opts.profile === "object" ? opts.profile : opts.profile === void 0 ? PROFILES.full : PROFILES[opts.profile];
function checkSimOptions(opts) {
  const p = profileOf(opts);
  if (p === void 0) return `unknown profile "${String(opts.profile)}"`;
  if (opts.mac !== void 0 && !isMacString(opts.mac)) return `MAC "${opts.mac}" is not xx:xx:xx:xx:xx:xx`;
  const m = opts.maxQueuePairs;
  if (m !== void 0 && (!Number.isInteger(m) || m < 1 || m > 32768)) return `max_virtqueue_pairs ${m} is not in 1..32768 (virtio 1.2 \xA75.1.4)`;
  if (m !== void 0 && m > 1 && !hasFeature(p.deviceFeatures, "MQ")) return `profile ${p.name} has no VIRTIO_NET_F_MQ: max_virtqueue_pairs must be 1`;
  const l = opts.latency;
  for (const [k, v] of [["kickToCallUs", l?.kickToCallUs], ["perChainUs", l?.perChainUs]]) {
    if (v !== void 0 && !(Number.isFinite(v) && v >= 0)) return `latency.${k} ${v} is not a non-negative number of \xB5s`;
  }
  if (opts.staleAck === true && p.cvq !== "vdpa_sim_net") return `staleAck reproduces vdpa_sim_net's bug; profile ${p.name} has no such CVQ`;
  return void 0;
}

// src/device/sim/rx-filter.ts
function hdrLenOf(features) {
  if (hasFeature(features, "HASH_REPORT")) return 20;
  return hasFeature(features, "VERSION_1") || hasFeature(features, "MRG_RXBUF") ? 12 : 10;
}
var cachedTable;
var cachedUni = /* @__PURE__ */ new Set();
var cachedMulti = /* @__PURE__ */ new Set();
function tables(state) {
  if (state.macTable !== cachedTable) {
    cachedTable = state.macTable;
    cachedUni = new Set(state.macTable.unicast);
    cachedMulti = new Set(state.macTable.multicast);
  }
  return { uni: cachedUni, multi: cachedMulti };
}
var isBroadcast = (f, o) => (f[o] & f[o + 1] & f[o + 2] & f[o + 3] & f[o + 4] & f[o + 5]) === 255;
var sameMac = (f, o, mac2) => f[o] === mac2[0] && f[o + 1] === mac2[1] && f[o + 2] === mac2[2] && f[o + 3] === mac2[3] && f[o + 4] === mac2[4] && f[o + 5] === mac2[5];
function acceptFrame(mode, frame, len, hdrLen, mac2, state, vlanFilter) {
  const d = hdrLen;
  if (len < d + 6) return false;
  if (mode === "vdpa_sim_net") {
    if ((frame[d] & 1) !== 0) return true;
    return sameMac(frame, d, mac2);
  }
  const rx2 = state.rxMode;
  if (rx2.promisc) return true;
  if (vlanFilter && len >= d + 16 && frame[d + 12] === 129 && frame[d + 13] === 0) {
    const vid = (frame[d + 14] << 8 | frame[d + 15]) & 4095;
    if ((state.vlanFilter[vid >> 5] >>> (vid & 31) & 1) === 0) return false;
  }
  if ((frame[d] & 1) !== 0) {
    if (isBroadcast(frame, d)) return !rx2.nobcast;
    if (rx2.nomulti) return false;
    if (rx2.allmulti || state.macTable.multicastOverflow) return true;
    return tables(state).multi.has(formatMac(frame, d));
  }
  if (rx2.nouni) return false;
  if (rx2.alluni || state.macTable.unicastOverflow) return true;
  if (sameMac(frame, d, mac2)) return true;
  return tables(state).uni.has(formatMac(frame, d));
}

// src/device/sim/core.ts
var errnoNameOf = (errno) => Object.entries(ERRNO).find(([, v]) => v === errno)?.[0];
var errnoErr = (kind, op, name, message) => E16.left(deviceError(kind, op, message, ERRNO[name], name));
var ok = E16.right(void 0);
var SimCore = class {
  profile;
  name;
  host;
  clock = new VirtualClock();
  stats = newStats();
  cvqLog = [];
  errors = [];
  maxQueuePairs;
  provisionedMac;
  kickToCallUs;
  perChainUs;
  iotlbs;
  groupAsid;
  /** Permission of every IOVA region of every ASID (shared with the IOTLBs). */
  regionPerms = /* @__PURE__ */ new Map();
  /** The CVQ semantics of the profile (with the class modules' rules). */
  model;
  faults;
  owned = false;
  closed = false;
  status = 0;
  /** Features the driver wrote (SET_FEATURES), as the device keeps them. */
  driverFeatures = 0n;
  /** The bits the hot paths test, taken out of `driverFeatures` once (no BigInt per packet). */
  fCtrlVq = false;
  fMq = false;
  fMrgRxbuf = false;
  fCtrlVlan = false;
  hdrLen = 10;
  backendAcked = 0n;
  suspended = false;
  /** A kick arrived while suspended: replayed at resume. */
  pendingKick = false;
  /** Work deferred to resume (a delayed ack that fell due while suspended). */
  afterResume = [];
  /** Options are checked by the caller (`checkSimOptions`). */
  constructor(opts) {
    const p = profileOf(opts);
    this.profile = p;
    this.name = opts.name ?? `sim-${p.name}`;
    this.host = new AddressSpace(`hva:${this.name}`);
    this.maxQueuePairs = opts.maxQueuePairs ?? p.maxQueuePairs;
    this.provisionedMac = normaliseMac(opts.mac ?? "52:54:00:12:34:56");
    this.kickToCallUs = opts.latency?.kickToCallUs ?? 50;
    this.perChainUs = opts.latency?.perChainUs ?? 0.5;
    this.iotlbs = Array.from({ length: p.asNum }, (_, i) => new Iotlb(i, this.name, this.regionPerms));
    this.groupAsid = new Array(p.groupNum).fill(0);
    this.model = p.cvq === "vdpa_sim_net" ? new VdpaSimNetCvq(this.provisionedMac, opts.staleAck ?? false) : new ModelCvq(this.provisionedMac, {
      maxQueuePairs: this.maxQueuePairs,
      rssMaxIndirectionTableLength: p.rssMaxIndirectionTableLength,
      rssMaxKeySize: p.rssMaxKeySize,
      supportedHashTypes: p.supportedHashTypes,
      macTableEntries: QEMU_MAC_TABLE_ENTRIES
    });
    this.faults = new FaultState(opts.faults ?? []);
  }
  setDriverFeatures(f) {
    this.driverFeatures = f;
    this.fCtrlVq = hasFeature(f, "CTRL_VQ");
    this.fMq = hasFeature(f, "MQ");
    this.fMrgRxbuf = hasFeature(f, "MRG_RXBUF");
    this.fCtrlVlan = hasFeature(f, "CTRL_VLAN");
    this.hdrLen = hdrLenOf(f);
  }
  /** Index of the control virtqueue for the features written so far (2 × max pairs with MQ, else 2). */
  cvqIndex() {
    return this.fMq ? 2 * this.maxQueuePairs : 2;
  }
  /** Virtqueue groups as vdpa_sim: the CVQ alone in group 1. */
  groupOf(qi) {
    return this.fCtrlVq || this.profile.name === "vdpa_sim_net" ? qi === this.cvqIndex() ? 1 : 0 : 0;
  }
  /** The ASID whose IOVA space queue `qi`'s group uses. */
  queueAsid(qi) {
    return this.groupAsid[this.groupOf(qi)];
  }
  /** The IOVA space queue `qi` reads and writes through. */
  spaceOf(qi) {
    return this.iotlbs[this.queueAsid(qi)].space;
  }
  layoutNegotiated() {
    return hasFeature(this.driverFeatures, "RING_PACKED") ? "packed" : "split";
  }
  /** Queue pairs the loopback serves: the CVQ state's with MQ, else one. */
  activePairs() {
    return this.fMq ? this.model.state().queuePairs : 1;
  }
  backendHas(bit) {
    return (this.backendAcked & 1n << BigInt(bit)) !== 0n;
  }
  driverOk() {
    return (this.status & VIRTIO_CONFIG_S.DRIVER_OK) !== 0;
  }
  runningUnsuspended() {
    return this.driverOk() && !this.suspended;
  }
  /** Processing allowed: DRIVER_OK, not NEEDS_RESET, not suspended, not closed. */
  running() {
    return this.driverOk() && (this.status & VIRTIO_CONFIG_S.NEEDS_RESET) === 0 && !this.suspended && !this.closed;
  }
  closedErr(op) {
    return E16.left(deviceError("closed", op, `${this.name} is closed`));
  }
  faultErr(op, errno, message) {
    return E16.left(deviceError("fault", op, message, errno, errnoNameOf(errno)));
  }
  /** A device error: recorded, and NEEDS_RESET where the profile says so. */
  deviceFault(queue, message, ring) {
    this.stats.deviceErrors++;
    this.errors.push(ring === void 0 ? { queue, message } : { queue, message, ring });
    if (this.profile.needsResetOnError) this.needsReset(queue, message);
  }
  /** §2.1.2: DEVICE_NEEDS_RESET; the device stops using every queue until the driver resets it. */
  needsReset(queue, reason) {
    if ((this.status & VIRTIO_CONFIG_S.NEEDS_RESET) !== 0) return;
    this.status |= VIRTIO_CONFIG_S.NEEDS_RESET;
    if (queue < 0) this.errors.push({ queue, message: `NEEDS_RESET: ${reason}` });
    this.clock.cancelAll();
  }
};

// src/device/sim/dma.ts
var permName = (p) => p === VHOST_ACCESS_RW ? "RW" : p === VHOST_ACCESS_WO ? "WO" : "RO";
var readable = (perm) => perm === 0 || (perm & VHOST_ACCESS_RO) !== 0;
var writable = (perm) => perm === 0 || (perm & VHOST_ACCESS_WO) !== 0;
function gather(space, perms, chain4, dst, len) {
  let pos = 0;
  for (let i = 0; i < chain4.outCount && pos < len; i++) {
    const a = chain4.addr[i];
    const l = Math.min(chain4.len[i], len - pos);
    if (l === 0) continue;
    const r = space.find(a, l);
    if (r === void 0 || !readable(perms.get(r) ?? 0)) return false;
    const o = a - r.base;
    const src = r.bytes;
    if (l <= 256) for (let k = 0; k < l; k++) dst[pos + k] = src[o + k];
    else dst.set(src.subarray(o, o + l), pos);
    pos += l;
  }
  return true;
}
function scatter(space, perms, chain4, src, srcOff, len) {
  let pos = 0;
  for (let i = chain4.outCount; i < chain4.count && pos < len; i++) {
    const a = chain4.addr[i];
    const l = Math.min(chain4.len[i], len - pos);
    if (l === 0) continue;
    const r = space.find(a, l);
    if (r === void 0 || !writable(perms.get(r) ?? 0)) return -1;
    const o = a - r.base;
    const dst = r.bytes;
    const from = srcOff + pos;
    if (l <= 256) for (let k = 0; k < l; k++) dst[o + k] = src[from + k];
    else dst.set(src.subarray(from, from + l), o);
    space.noteWrite(a, l);
    pos += l;
  }
  return pos;
}
function writeByte(space, perms, addr, v) {
  const r = space.find(addr, 1);
  if (r === void 0 || !writable(perms.get(r) ?? 0)) return false;
  r.bytes[addr - r.base] = v;
  space.noteWrite(addr, 1);
  return true;
}
function putHeaderByte(space, chain4, at, v) {
  let off = 0;
  for (let i = chain4.outCount; i < chain4.count; i++) {
    const l = chain4.len[i];
    if (at < off + l) {
      const a = chain4.addr[i] + (at - off);
      const r = space.find(a, 1);
      if (r !== void 0) r.bytes[a - r.base] = v;
      return;
    }
    off += l;
  }
}
function setNumBuffers(space, chain4, n) {
  putHeaderByte(space, chain4, 10, n & 255);
  putHeaderByte(space, chain4, 11, n >>> 8);
}

// src/device/sim/cvq.ts
var SimCvq = class {
  constructor(core, queues) {
    this.core = core;
    this.queues = queues;
  }
  core;
  queues;
  /** One processing pass over the CVQ; returns the chains handled. */
  process(q) {
    if (q.stalled) return 0;
    const ring = q.ring;
    const full = this.core.profile.cvq === "model";
    this.core.model.beginPass();
    if (full) ring.disableKicks();
    let n = 0;
    for (; ; ) {
      if (!this.core.running() || q.ring !== ring || q.stalled) break;
      const r = ring.pop(q.chain);
      if (r === false) {
        if (full && ring.enableKicks()) continue;
        break;
      }
      if (r !== true) {
        this.core.deviceFault(q.index, `CVQ: ${r.message}`, r);
        break;
      }
      n++;
      if (!this.command(q, q.chain)) break;
    }
    this.queues.raiseCall(q);
    return n;
  }
  /** One popped CVQ chain; false when the pass must stop. */
  command(q, chain4) {
    const p = this.read(q, chain4);
    if (p === void 0) return false;
    const { cls, cmd: cmd2, name } = p.entry;
    const f = this.core.faults;
    if (f.forCommand("needs-reset", cls, cmd2) !== void 0) {
      this.core.cvqLog.push({ ...p.entry, reason: "NEEDS_RESET (injected)" });
      this.core.needsReset(q.index, `injected on ${name}`);
      return false;
    }
    if (f.forCommand("no-answer", cls, cmd2) !== void 0) {
      this.core.cvqLog.push({ ...p.entry, reason: "never answered (injected)" });
      q.stalled = true;
      return false;
    }
    const nack = f.forCommand("nack", cls, cmd2) !== void 0;
    const badLen = f.forCommand("wrong-used-len", cls, cmd2);
    const badId = f.forCommand("bad-used-id", cls, cmd2);
    const answer = () => this.answer(p, nack, badLen?.len, badId === void 0 ? void 0 : badId.id ?? q.num);
    const delay = f.forCommand("delay-ack", cls, cmd2);
    if (delay === void 0) return answer();
    this.delay(q, delay.us, answer);
    return false;
  }
  /**
   * Copy the command before judging it (no time-of-check/time-of-use), at most CVQ_MAX_COMMAND bytes,
   * and log it. Undefined (pass over) when it cannot be read or has no header.
   */
  read(q, chain4) {
    const core = this.core;
    const space = this.queues.space(q);
    const outBytes = chain4.outBytes;
    const bytes = new Uint8Array(Math.min(outBytes, CVQ_MAX_COMMAND));
    if (!gather(space, core.regionPerms, chain4, bytes, bytes.length)) {
      core.deviceFault(q.index, "CVQ: command buffer not readable");
      return void 0;
    }
    const now = core.clock.now;
    if (bytes.length < 2) {
      core.cvqLog.push({ cls: -1, cmd: -1, name: "SHORT_HEADER", bytes, ack: void 0, reason: `${bytes.length}-byte command, no header`, poppedAt: now, ackedAt: void 0 });
      core.deviceFault(q.index, `CVQ: ${bytes.length}-byte command has no header`);
      return void 0;
    }
    if (chain4.inBytes < 1 && core.profile.cvq === "model") {
      core.deviceFault(q.index, "CVQ: command without a writable ack byte");
      return void 0;
    }
    const cls = bytes[0];
    const cmd2 = bytes[1];
    core.stats.cvqCommands++;
    const entry = { cls, cmd: cmd2, name: cvqCommandName(cls, cmd2), bytes, ack: void 0, reason: "", poppedAt: now, ackedAt: void 0 };
    let ackAddr = -1;
    for (let i = chain4.outCount; i < chain4.count; i++) {
      if (chain4.len[i] > 0) {
        ackAddr = chain4.addr[i];
        break;
      }
    }
    return { q, space, bytes, outBytes, entry, id: chain4.id, ringDescs: chain4.ringDescs, ackAddr };
  }
  /** Judge the command, write the ack, return the chain; false when the pass must stop. */
  answer(p, nack, lenOverride, idOverride) {
    const core = this.core;
    const model = core.profile.cvq === "model";
    const out = nack ? { ack: VIRTIO_NET_ERR, reason: "NACK (injected)" } : p.outBytes > CVQ_MAX_COMMAND && model ? { ack: VIRTIO_NET_ERR, reason: `command of ${p.outBytes} bytes exceeds ${CVQ_MAX_COMMAND}` } : core.model.handle(p.bytes, core.driverFeatures);
    core.cvqLog.push({ ...p.entry, ack: out.ack, reason: out.reason, ackedAt: core.clock.now });
    if (out.ack === VIRTIO_NET_OK) core.stats.acksOk++;
    else core.stats.acksErr++;
    let written = 0;
    if (p.ackAddr >= 0) {
      if (!writeByte(p.space, core.regionPerms, p.ackAddr, out.ack)) {
        core.deviceFault(p.q.index, `CVQ: ack byte at 0x${p.ackAddr.toString(16)} not writable`);
        return false;
      }
      written = 1;
    }
    return this.queues.complete(p.q, p.id, p.ringDescs, written, lenOverride, idOverride);
  }
  /** A delayed ack: the CVQ stalls until `us` later, then answers and carries on with what queued up. */
  delay(q, us, answer) {
    q.stalled = true;
    const ring = q.ring;
    this.core.clock.schedule(this.core.clock.now + us, () => {
      const fire = () => {
        if (q.ring !== ring || !q.stalled) return;
        q.stalled = false;
        if (answer()) this.process(q);
        else this.queues.raiseCall(q);
      };
      if (this.core.suspended) this.core.afterResume.push(fire);
      else fire();
    });
  }
};

// src/device/sim/loopback.ts
var RxAssembly = class {
  constructor(frame, maxParts) {
    this.frame = frame;
    this.ids = new Uint16Array(maxParts);
    this.descs = new Uint16Array(maxParts);
    this.lens = new Uint32Array(maxParts);
    this.first = new Chain(Math.max(1024, maxParts));
  }
  frame;
  active = false;
  txId = 0;
  txDescs = 0;
  txLen;
  txIdOverride;
  len = 0;
  pos = 0;
  count = 0;
  ids;
  descs;
  lens;
  /** The first RX chain (its header gets num_buffers). */
  first;
};
var Loopback = class {
  constructor(core, queues) {
    this.core = core;
    this.queues = queues;
    this.frame = new Uint8Array(core.profile.txMaxBytes);
    this.rxChain = new Chain(Math.max(1024, core.profile.vringNum));
  }
  core;
  queues;
  /** One frame, reused (no allocation per packet). */
  frame;
  rxChain;
  /** Per pair, made on first use: mergeable-RX assemblies (each with its own frame buffer). */
  assemblies = /* @__PURE__ */ new Map();
  // The pass in progress (fields, not an object per pass: the hot path allocates nothing).
  txSpace;
  rxSpace;
  handled = 0;
  /** Drop the half-delivered frame of `pair` (its queue stopped or the device reset). */
  stop(pair) {
    const a = this.assemblies.get(pair);
    if (a !== void 0) a.active = false;
  }
  reset() {
    for (const a of this.assemblies.values()) a.active = false;
  }
  /** vdpasim_net_work for one pair: TX (2p+1) → RX (2p). Returns the chains handled. */
  process(pair) {
    const core = this.core;
    const txq = this.queues.list[2 * pair + 1];
    const rxq = this.queues.list[2 * pair];
    const tx = txq.ring;
    const rx2 = rxq.ring;
    if (tx === void 0 || rx2 === void 0) return 0;
    const full = core.profile.cvq === "model";
    this.txSpace = this.queues.space(txq);
    this.rxSpace = this.queues.space(rxq);
    const asm = full && core.fMrgRxbuf ? this.assembly(pair) : void 0;
    this.handled = 0;
    let budget = core.profile.txBudget;
    let rescheduled = false;
    if (full) tx.disableKicks();
    for (; ; ) {
      if (!core.running() || txq.ring !== tx || rxq.ring !== rx2) break;
      if (asm !== void 0 && asm.active) {
        if (this.deliverMerged(asm, txq, rxq) !== "done") break;
        continue;
      }
      if (budget-- <= 0) {
        this.queues.markKicked(txq);
        rescheduled = true;
        break;
      }
      if (core.profile.rxOverrun === "backpressure" && !rx2.hasAvail()) break;
      const r = tx.pop(txq.chain);
      if (r === false) {
        if (full && tx.enableKicks()) continue;
        break;
      }
      if (r !== true) {
        core.deviceFault(txq.index, `TX: ${r.message}`, r);
        break;
      }
      this.handled++;
      if (!this.forward(txq, rxq, asm)) break;
    }
    if (full && !rescheduled && txq.ring === tx) tx.enableKicks();
    this.queues.raiseCall(txq);
    this.queues.raiseCall(rxq);
    return this.handled;
  }
  /** One popped TX chain: read it, filter it, deliver it. False when the pass must stop. */
  forward(txq, rxq, asm) {
    const core = this.core;
    const txChain = txq.chain;
    const frame = asm !== void 0 ? asm.frame : this.frame;
    const len = Math.min(txChain.outBytes, frame.length);
    if (!gather(this.txSpace, core.regionPerms, txChain, frame, len)) {
      core.deviceFault(txq.index, "TX buffer not readable");
      return false;
    }
    core.stats.txPackets++;
    core.stats.txBytes += len;
    const txLen = core.faults.forQueue("wrong-used-len", txq.index)?.len;
    const txId = core.faults.forQueue("bad-used-id", txq.index);
    const txIdOverride = txId === void 0 ? void 0 : txId.id ?? txq.num;
    if (!acceptFrame(core.profile.rxFilter, frame, len, core.hdrLen, core.model.configMac, core.model.state(), core.fCtrlVlan)) {
      core.stats.rxDrops++;
      return this.queues.complete(txq, txChain.id, txChain.ringDescs, 0, txLen, txIdOverride);
    }
    if (asm === void 0) return this.deliverOne(txq, rxq, len, txLen, txIdOverride);
    asm.active = true;
    asm.txId = txChain.id;
    asm.txDescs = txChain.ringDescs;
    asm.txLen = txLen;
    asm.txIdOverride = txIdOverride;
    asm.len = len;
    asm.pos = 0;
    asm.count = 0;
    if (this.deliverMerged(asm, txq, rxq) !== "done") return false;
    this.handled++;
    return true;
  }
  /** The frame into one RX chain (truncated if it does not fit), then both chains completed. */
  deliverOne(txq, rxq, len, txLen, txIdOverride) {
    const core = this.core;
    const txChain = txq.chain;
    const rxChain = this.rxChain;
    const rr = rxq.ring.pop(rxChain);
    if (rr !== true) {
      if (rr !== false) core.deviceFault(rxq.index, `RX: ${rr.message}`, rr);
      else core.stats.rxOverruns++;
      this.queues.complete(txq, txChain.id, txChain.ringDescs, 0, txLen, txIdOverride);
      return false;
    }
    this.handled++;
    const written = scatter(this.rxSpace, core.regionPerms, rxChain, this.frame, 0, len);
    if (core.profile.rxSetsNumBuffers && core.hdrLen >= 12 && written >= 12) setNumBuffers(this.rxSpace, rxChain, 1);
    if (written < 0) {
      core.deviceFault(rxq.index, "RX buffer not writable");
      return false;
    }
    core.stats.rxPackets++;
    core.stats.rxBytes += written;
    if (written < len) core.stats.rxTruncated++;
    const rxLen = core.faults.forQueue("wrong-used-len", rxq.index)?.len;
    const rxId = core.faults.forQueue("bad-used-id", rxq.index);
    if (!this.queues.complete(txq, txChain.id, txChain.ringDescs, 0, txLen, txIdOverride)) return false;
    return this.queues.complete(rxq, rxChain.id, rxChain.ringDescs, written, rxLen, rxId === void 0 ? void 0 : rxId.id ?? rxq.num);
  }
  assembly(pair) {
    let a = this.assemblies.get(pair);
    if (a === void 0) this.assemblies.set(pair, a = new RxAssembly(new Uint8Array(this.core.profile.txMaxBytes), this.core.profile.vringNum));
    return a;
  }
  /**
   * Fill RX chains with the assembly's frame (§5.1.6.4.2: as many buffers as it takes, num_buffers in
   * the first header), then complete the TX chain and every RX chain in order. 'wait' when the RX ring
   * ran dry (an RX kick resumes), 'error' on a device error.
   */
  deliverMerged(asm, txq, rxq) {
    while (asm.pos < asm.len) {
      const st = this.fillOne(asm, rxq);
      if (st !== "done") return st;
    }
    asm.active = false;
    if (this.core.hdrLen >= 12 && asm.lens[0] >= 12) setNumBuffers(this.rxSpace, asm.first, asm.count);
    this.core.stats.rxPackets++;
    this.core.stats.rxBytes += asm.len;
    if (!this.queues.complete(txq, asm.txId, asm.txDescs, 0, asm.txLen, asm.txIdOverride)) return "error";
    for (let i = 0; i < asm.count; i++) if (!this.queues.completeData(rxq, asm.ids[i], asm.descs[i], asm.lens[i])) return "error";
    return "done";
  }
  /** The next part of the assembly's frame into the next RX chain. */
  fillOne(asm, rxq) {
    const core = this.core;
    const rxChain = this.rxChain;
    if (asm.count >= asm.ids.length || asm.count >= 65535) {
      core.deviceFault(rxq.index, `RX: a ${asm.len}-byte frame needs more than ${asm.count} buffers`);
      asm.active = false;
      return "error";
    }
    const rr = rxq.ring.pop(rxChain);
    if (rr === false) return "wait";
    if (rr !== true) {
      core.deviceFault(rxq.index, `RX: ${rr.message}`, rr);
      asm.active = false;
      return "error";
    }
    const w = rxChain.inBytes === 0 ? -1 : scatter(this.rxSpace, core.regionPerms, rxChain, asm.frame, asm.pos, asm.len - asm.pos);
    if (w <= 0) {
      core.deviceFault(rxq.index, "RX buffer not writable");
      asm.active = false;
      return "error";
    }
    if (asm.count === 0) {
      const f = asm.first;
      f.reset();
      for (let i = 0; i < rxChain.count; i++) f.push(rxChain.addr[i], rxChain.len[i], i >= rxChain.outCount);
    }
    asm.ids[asm.count] = rxChain.id;
    asm.descs[asm.count] = rxChain.ringDescs;
    asm.lens[asm.count] = w;
    asm.count++;
    asm.pos += w;
    return "done";
  }
};

// src/device/sim/queues.ts
var SimQueue = class {
  constructor(index, maxNum) {
    this.index = index;
    this.num = maxNum;
    this.chain = new Chain(Math.max(1024, maxNum));
  }
  index;
  num;
  addrs;
  ready = false;
  /** vhost's vring base while the queue is not running. */
  base = { availIdx: 0, availWrap: true, usedIdx: 0, usedWrap: true };
  ring;
  layout = "split";
  /** A kick not yet processed, and the virtual time of the first such kick. */
  kicked = false;
  kickAt = 0;
  callPending = false;
  /** CVQ waiting on a delayed ack, or wedged by a no-answer fault (until reset). */
  stalled = false;
  chain;
  resetState(maxNum) {
    this.num = maxNum;
    this.addrs = void 0;
    this.ready = false;
    this.base = { availIdx: 0, availWrap: true, usedIdx: 0, usedWrap: true };
    this.ring = void 0;
    this.kicked = false;
    this.callPending = false;
    this.stalled = false;
  }
};
var SimQueues = class {
  constructor(core) {
    this.core = core;
    const n = 2 * core.maxQueuePairs + 1;
    this.list = Array.from({ length: n }, (_, i) => new SimQueue(i, core.profile.vringNum));
  }
  core;
  list;
  /** Processes one kicked queue; returns the chains handled (set by the device: CVQ or loopback). */
  process = () => 0;
  /** A queue stopped (the loopback drops a half-delivered frame). */
  onStop = () => {
  };
  drainScheduled = false;
  callListeners = /* @__PURE__ */ new Map();
  get(qi) {
    return Number.isInteger(qi) && qi >= 0 ? this.list[qi] : void 0;
  }
  /** The IOVA space queue `q` uses. */
  space(q) {
    return this.core.spaceOf(q.index);
  }
  /** Queues that exist for the written features: the data queues plus the CVQ when CTRL_VQ is there. */
  activeQueues() {
    return this.core.fCtrlVq ? this.core.cvqIndex() + 1 : this.core.cvqIndex();
  }
  resetAll() {
    for (const q of this.list) q.resetState(this.core.profile.vringNum);
  }
  /** Give queue `q` a device-side ring over its group's IOVA space, resuming from its vring base. */
  start(q) {
    const core = this.core;
    if (q.ring !== void 0 || q.index >= this.activeQueues()) return;
    if (q.addrs === void 0) return core.deviceFault(q.index, `queue ${q.index} enabled without ring addresses`);
    const layout = core.layoutNegotiated();
    const space = this.space(q);
    const denied = this.ringAccessDenied(space, layout, q.num, q.addrs);
    if (denied !== void 0) return core.deviceFault(q.index, `queue ${q.index}: ${denied}`);
    const ring = ringFactory(layout).device(space, {
      layout,
      size: q.num,
      addrs: q.addrs,
      eventIdx: hasFeature(core.driverFeatures, "EVENT_IDX"),
      indirect: hasFeature(core.driverFeatures, "INDIRECT_DESC")
    });
    if ("_tag" in ring) return core.deviceFault(q.index, `queue ${q.index}: ${ring.message}`, ring);
    const bad = ring.setBase(q.base);
    if (bad !== void 0) return core.deviceFault(q.index, `queue ${q.index}: ${bad.message}`, bad);
    q.ring = ring;
    q.layout = layout;
  }
  /**
   * The IOTLB permissions a ring needs, as QEMU maps SVQ rings (driver area RO, device area RW): the
   * device reads the descriptor table and driver area and writes the device area; a packed device also
   * writes used descriptors into the descriptor ring. Undefined when the mappings allow it (or the
   * areas are unmapped, which the ring layer reports).
   */
  ringAccessDenied(space, layout, num, addrs) {
    const l = ringFactory(layout).layoutOf(num);
    const areas = [
      ["descriptor area", addrs.desc, l.desc.size, layout === "packed" ? VHOST_ACCESS_RW : VHOST_ACCESS_RO],
      ["driver area", addrs.driver, l.driver.size, VHOST_ACCESS_RO],
      ["device area", addrs.device, l.device.size, VHOST_ACCESS_WO]
    ];
    for (const [what, addr, size, need] of areas) {
      const r = space.find(addr, size);
      if (r === void 0) continue;
      const perm = this.core.regionPerms.get(r) ?? 0;
      if (perm !== 0 && (perm & need) !== need) return `${what} at 0x${addr.toString(16)} is mapped ${permName(perm)}, the device needs ${permName(need)}`;
    }
    return void 0;
  }
  /** Stop using queue `q`, keeping its position as the vring base. */
  stop(q) {
    if (q.ring !== void 0) {
      const b = q.ring.base();
      q.base = q.layout === "split" ? { availIdx: b.availIdx, availWrap: true, usedIdx: b.availIdx, usedWrap: true } : b;
    }
    q.ring = void 0;
    q.kicked = false;
    q.stalled = false;
    this.onStop(q);
  }
  /** Move the running queues of `group` to its (new) address space at once, keeping their position. */
  rebind(group) {
    for (const q of this.list) {
      if (q.ring === void 0 || this.core.groupOf(q.index) !== group) continue;
      const b = q.ring.base();
      q.ring = void 0;
      q.base = b;
      this.start(q);
    }
  }
  /** Called (in a microtask) whenever the device signals queue `qi`; returns an unsubscribe function. */
  onCall(qi, fn) {
    let set2 = this.callListeners.get(qi);
    if (set2 === void 0) this.callListeners.set(qi, set2 = /* @__PURE__ */ new Set());
    set2.add(fn);
    return () => void set2.delete(fn);
  }
  markKicked(q) {
    if (!q.kicked) {
      q.kicked = true;
      q.kickAt = this.core.clock.now;
    }
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(() => {
        this.drainScheduled = false;
        this.drain();
      });
    }
  }
  /** Process every kicked queue, each at kick time + latency on the virtual clock. */
  drain() {
    const core = this.core;
    for (let guard = 0; guard < 64; guard++) {
      let any = false;
      for (const q of this.list) {
        if (!q.kicked) continue;
        q.kicked = false;
        any = true;
        if (q.ring === void 0) continue;
        if (core.suspended) {
          core.pendingKick = true;
          continue;
        }
        if (!core.running()) continue;
        core.clock.advanceTo(Math.max(core.clock.now, q.kickAt + core.kickToCallUs));
        const chains = this.process(q);
        if (chains > 0) core.clock.advance(chains * core.perChainUs);
      }
      if (!any) return;
    }
  }
  /** Signal queue `q` when its ring asks for it (EVENT_IDX / NO_INTERRUPT). */
  raiseCall(q) {
    if (q.ring === void 0 || !q.ring.callNeeded()) return;
    if (!q.callPending) this.core.clock.roundTrips++;
    q.callPending = true;
    this.core.stats.calls++;
    const ls = this.callListeners.get(q.index);
    if (ls !== void 0 && ls.size > 0) queueMicrotask(() => ls.forEach((fn) => fn()));
  }
  /**
   * Return a chain as used, applying the used-length / used-id faults by rewriting the used element
   * after the ring layer wrote it (so the device's own ring state stays consistent and the driver sees
   * exactly the lie).
   */
  complete(q, id, ringDescs, len, lenOverride, idOverride) {
    const ring = q.ring;
    const patch = lenOverride !== void 0 || idOverride !== void 0;
    const before = patch ? ring.base() : void 0;
    const r = ring.push(id, ringDescs, len);
    if (r !== void 0) {
      this.core.deviceFault(q.index, `queue ${q.index}: ${r.message}`, r);
      return false;
    }
    this.core.stats.chains++;
    if (before !== void 0) this.patchUsed(q, before, lenOverride, idOverride);
    if (this.core.faults.chainDone(q.index)) this.core.needsReset(q.index, `injected after chains on queue ${q.index}`);
    return true;
  }
  /** Complete a data-queue chain with that queue's used-length / used-id faults, if any. */
  completeData(q, id, ringDescs, len) {
    const f = this.core.faults;
    const badLen = f.forQueue("wrong-used-len", q.index)?.len;
    const badId = f.forQueue("bad-used-id", q.index);
    return this.complete(q, id, ringDescs, len, badLen, badId === void 0 ? void 0 : badId.id ?? q.num);
  }
  patchUsed(q, before, len, id) {
    const space = this.space(q);
    const addrs = q.addrs;
    if (q.layout === "split") {
      const elem = addrs.device + 4 + (before.usedIdx & q.num - 1) * 8;
      if (id !== void 0) space.writeU32(elem, id);
      if (len !== void 0) space.writeU32(elem + 4, len);
    } else {
      const d = addrs.desc + before.usedIdx * 16;
      if (len !== void 0) space.writeU32(d + 8, len);
      if (id !== void 0) space.writeU16(d + 12, id & 65535);
    }
  }
};

// src/device/sim/device.ts
var HOST_BASE = 139637976727552;
var SimVdpaDevice = class _SimVdpaDevice {
  kind = "sim";
  name;
  host;
  profile;
  clock;
  stats;
  /** Every CVQ command the device popped, in order (tests and the demo read it). */
  cvqLog;
  /** Device errors seen (each also counted in `stats.deviceErrors`). */
  errors;
  core;
  queues;
  cvq;
  loopback;
  inBatch = false;
  nextHost = HOST_BASE;
  /** Address spaces vhost-vdpa has created (on the first UPDATE / BATCH_BEGIN of an ASID). */
  asCreated = [];
  /** A device from options that may come from a user (CLI, state file): bad ones are an error value. */
  static create(opts = {}) {
    const bad = checkSimOptions(opts);
    return bad === void 0 ? E17.right(new _SimVdpaDevice(opts)) : E17.left(deviceError("invalid", "open", bad));
  }
  /** Options are the caller's contract (see `create` for unchecked input); invalid ones throw a TypeError. */
  constructor(opts = {}) {
    const bad = checkSimOptions(opts);
    if (bad !== void 0) throw new TypeError(`SimVdpaDevice: ${bad}`);
    const core = new SimCore(opts);
    this.core = core;
    this.profile = core.profile;
    this.name = core.name;
    this.host = core.host;
    this.clock = core.clock;
    this.stats = core.stats;
    this.cvqLog = core.cvqLog;
    this.errors = core.errors;
    this.queues = new SimQueues(core);
    this.cvq = new SimCvq(core, this.queues);
    this.loopback = new Loopback(core, this.queues);
    this.queues.process = (q) => this.process(q);
    this.queues.onStop = (q) => this.loopback.stop(q.index >> 1);
  }
  /** A kicked queue's pass: the CVQ, or the loopback of an active pair. */
  process(q) {
    const core = this.core;
    if (core.fCtrlVq && q.index === core.cvqIndex()) return this.cvq.process(q);
    const pair = q.index >> 1;
    return pair < core.activePairs() ? this.loopback.process(pair) : 0;
  }
  // ---- introspection (not part of the uAPI) ----
  /** The virtio-net state the device holds (what a CVQ restore must reproduce). */
  netState() {
    return this.core.model.state();
  }
  /** The features the device runs with (the driver's SET_FEATURES as the device kept them). */
  negotiatedFeatures() {
    return this.core.driverFeatures;
  }
  ackedBackendFeatures() {
    return this.core.backendAcked;
  }
  isSuspended() {
    return this.core.suspended;
  }
  /** Index of the control virtqueue for the features written so far (2 × max pairs with MQ, else 2). */
  cvqIndex() {
    return this.core.cvqIndex();
  }
  /** IOVA view of an address space (tests inspect it; the SVQ engine never needs it). */
  iovaSpace(asid) {
    return this.core.iotlbs[asid]?.space;
  }
  iotlbEntries(asid) {
    return this.core.iotlbs[asid]?.entries() ?? [];
  }
  /** The ASID whose IOVA space queue `qi`'s group uses. */
  queueAsid(qi) {
    return this.core.queueAsid(qi);
  }
  /** Replace the fault plan (hit counters start over). */
  setFaults(plan) {
    this.core.faults = new FaultState(plan);
  }
  faultHits() {
    return this.core.faults.hits;
  }
  /** Set DEVICE_NEEDS_RESET now (§2.1.2), as a device that hit an internal error. */
  injectNeedsReset(reason = "injected") {
    this.core.needsReset(-1, reason);
  }
  /**
   * Ask the driver to announce itself (virtio 1.2 §5.1.6.5.4, after a migration): sets
   * VIRTIO_NET_S_ANNOUNCE in config status until the driver's ANNOUNCE_ACK. False (nothing set) when
   * GUEST_ANNOUNCE is not negotiated or the device is not running.
   */
  announce() {
    if (!hasFeature(this.core.driverFeatures, "GUEST_ANNOUNCE") || (this.core.status & VIRTIO_CONFIG_S.DRIVER_OK) === 0) return false;
    this.core.model.announcePending = true;
    return true;
  }
  /** Called (in a microtask) whenever the device signals queue `qi`; returns an unsubscribe function. */
  onCall(qi, fn) {
    return this.queues.onCall(qi, fn);
  }
  /** Process every pending kick now (synchronously). */
  flush() {
    this.queues.drain();
  }
  /** Process pending kicks and fire every timed event (delayed acks), advancing virtual time as needed. */
  settle() {
    for (; ; ) {
      this.queues.drain();
      const next = this.clock.nextEventAt();
      if (next === void 0) break;
      this.clock.advanceTo(next);
    }
  }
  // ---- host memory ----
  allocHost(size, name) {
    if (this.core.closed) return this.core.closedErr("allocHost");
    if (!Number.isSafeInteger(size) || size <= 0) return errnoErr("invalid", "mmap", "EINVAL", `host allocation of ${size} bytes`);
    const len = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    let buf;
    try {
      buf = new ArrayBuffer(len);
    } catch {
      return errnoErr("ioctl", "mmap", "ENOMEM", `cannot allocate ${len} bytes of host memory`);
    }
    const base = this.nextHost;
    this.nextHost = base + len + PAGE_SIZE;
    const r = this.host.addRegion(base, buf, { name: name ?? `${this.host.name}@0x${base.toString(16)}` });
    return E17.isLeft(r) ? errnoErr("invalid", "mmap", "EINVAL", r.left.message) : E17.right(r.right);
  }
  freeHost(region) {
    if (this.core.closed) return this.core.closedErr("freeHost");
    const r = this.host.removeRegion(region.base);
    return E17.isLeft(r) ? errnoErr("invalid", "munmap", "EINVAL", r.left.message) : ok;
  }
  // ---- device identity and negotiation ----
  setOwner() {
    if (this.core.closed) return this.core.closedErr("VHOST_SET_OWNER");
    if (this.core.owned) return errnoErr("ioctl", "VHOST_SET_OWNER", "EBUSY", "the device already has an owner");
    this.core.owned = true;
    return ok;
  }
  getDeviceId() {
    return this.core.closed ? this.core.closedErr("VHOST_VDPA_GET_DEVICE_ID") : E17.right(VIRTIO_ID_NET);
  }
  getFeatures() {
    return this.core.closed ? this.core.closedErr("VHOST_GET_FEATURES") : E17.right(this.profile.deviceFeatures);
  }
  /**
   * VHOST_SET_FEATURES: EBUSY once FEATURES_OK is set; EINVAL without ACCESS_PLATFORM ("DMA mapping must
   * be done by driver", vdpasim_set_driver_features). vdpa_sim_net keeps `features & supported`; the
   * full profile keeps what was written and judges it at FEATURES_OK.
   */
  setFeatures(features) {
    const op = "VHOST_SET_FEATURES";
    if (this.core.closed) return this.core.closedErr(op);
    if ((this.core.status & VIRTIO_CONFIG_S.FEATURES_OK) !== 0) return errnoErr("state", op, "EBUSY", "FEATURES_OK is already set");
    if (features < 0n || features >= 1n << 64n) return errnoErr("invalid", op, "EINVAL", "features are a u64");
    if (!hasFeature(features, "ACCESS_PLATFORM")) return errnoErr("invalid", op, "EINVAL", "VIRTIO_F_ACCESS_PLATFORM is required (DMA mapping is done by the driver)");
    this.core.setDriverFeatures(this.profile.featureCheck === "mask" ? features & this.profile.deviceFeatures : features);
    return ok;
  }
  getBackendFeatures() {
    return this.core.closed ? this.core.closedErr("VHOST_GET_BACKEND_FEATURES") : E17.right(this.profile.backendFeatures);
  }
  setBackendFeatures(features) {
    const op = "VHOST_SET_BACKEND_FEATURES";
    if (this.core.closed) return this.core.closedErr(op);
    if ((features & ~this.profile.backendFeatures) !== 0n) {
      return errnoErr("unsupported", op, "EOPNOTSUPP", `backend features 0x${features.toString(16)} beyond the offered 0x${this.profile.backendFeatures.toString(16)}`);
    }
    this.core.backendAcked = features;
    return ok;
  }
  getStatus() {
    return this.core.closed ? this.core.closedErr("VHOST_VDPA_GET_STATUS") : E17.right(this.core.status);
  }
  /**
   * VHOST_VDPA_SET_STATUS. 0 resets the device. Otherwise no bit may be cleared (EINVAL, vhost-vdpa:
   * "Userspace shouldn't remove status bits unless reset the status to 0"). FEATURES_OK is not kept
   * when the full profile refuses the features (virtio 1.2 §3.1.1 step 5-6: the driver re-reads it).
   * DRIVER_OK starts every ready queue.
   */
  setStatus(status) {
    const op = "VHOST_VDPA_SET_STATUS";
    if (this.core.closed) return this.core.closedErr(op);
    if (!Number.isInteger(status) || status < 0 || status > 255) return errnoErr("invalid", op, "EINVAL", `status ${status} is not a u8`);
    const old = this.core.status;
    if (status === 0) {
      this.reset();
      return ok;
    }
    if ((old & ~status) !== 0) {
      return errnoErr("invalid", op, "EINVAL", `status 0x${status.toString(16)} clears bits of 0x${old.toString(16)} without a reset`);
    }
    let next = status;
    if ((status & VIRTIO_CONFIG_S.FEATURES_OK) !== 0 && (old & VIRTIO_CONFIG_S.FEATURES_OK) === 0) {
      if (this.featuresRefused() !== void 0) next &= ~VIRTIO_CONFIG_S.FEATURES_OK;
      else this.core.model.reset(this.configMacString(), this.core.driverFeatures);
    }
    this.core.status = next;
    if ((next & VIRTIO_CONFIG_S.DRIVER_OK) !== 0 && (old & VIRTIO_CONFIG_S.DRIVER_OK) === 0) {
      for (const q of this.queues.list) if (q.ready) this.queues.start(q);
    }
    return ok;
  }
  /** Why the full profile refuses the written features at FEATURES_OK, or undefined when it accepts them. */
  featuresRefused() {
    if (this.profile.featureCheck === "mask") return void 0;
    const extra = this.core.driverFeatures & ~this.profile.deviceFeatures;
    if (extra !== 0n) return `features ${formatFeatures(extra)} are not offered`;
    if (!hasFeature(this.core.driverFeatures, "VERSION_1")) return "VIRTIO_F_VERSION_1 is required (modern device)";
    const dep = checkFeatureDependencies(this.core.driverFeatures);
    return E17.isLeft(dep) ? dep.left.message : void 0;
  }
  /** VHOST_VDPA_GET_CONFIG: EINVAL for len 0 or offset beyond the size, E2BIG past the end. */
  getConfig(offset, len) {
    const op = "VHOST_VDPA_GET_CONFIG";
    if (this.core.closed) return this.core.closedErr(op);
    const size = this.profile.configSize;
    if (!Number.isInteger(offset) || !Number.isInteger(len) || offset < 0 || len <= 0 || offset > size) {
      return errnoErr("invalid", op, "EINVAL", `config read of ${len} byte(s) at ${offset} (config size ${size})`);
    }
    if (len > size - offset) return errnoErr("invalid", op, "E2BIG", `config read of ${len} byte(s) at ${offset} runs past ${size}`);
    return E17.right(this.configBytes().slice(offset, offset + len));
  }
  getConfigSize() {
    return this.core.closed ? this.core.closedErr("VHOST_VDPA_GET_CONFIG_SIZE") : E17.right(this.profile.configSize);
  }
  getVringNum() {
    return this.core.closed ? this.core.closedErr("VHOST_VDPA_GET_VRING_NUM") : E17.right(this.profile.vringNum);
  }
  getVqsCount() {
    return this.core.closed ? this.core.closedErr("VHOST_VDPA_GET_VQS_COUNT") : E17.right(this.queues.list.length);
  }
  getGroupNum() {
    return this.core.closed ? this.core.closedErr("VHOST_VDPA_GET_GROUP_NUM") : E17.right(this.profile.groupNum);
  }
  getAsNum() {
    return this.core.closed ? this.core.closedErr("VHOST_VDPA_GET_AS_NUM") : E17.right(this.profile.asNum);
  }
  getVringGroup(qi) {
    const op = "VHOST_VDPA_GET_VRING_GROUP";
    const q = this.queueOr(op, qi);
    return E17.isLeft(q) ? q : E17.right(this.core.groupOf(qi));
  }
  /**
   * VHOST_VDPA_SET_GROUP_ASID. The group travels in the vring ioctl's index, so a group ≥ the vq count
   * is ENOBUFS; an ASID ≥ the AS count is EINVAL. Linux 6.12's vdpasim checks `group > ngroups`
   * (off by one): on vdpa_sim_net group == ngroups is accepted and binds nothing; the full profile
   * refuses it (EINVAL) as the fixed kernel does. Allowed at any time, as in the kernel: the queues of
   * a running group move to the new address space at once (vringh_set_iotlb), keeping their position.
   */
  setGroupAsid(group, asid) {
    const op = "VHOST_VDPA_SET_GROUP_ASID";
    if (this.core.closed) return this.core.closedErr(op);
    if (!Number.isInteger(group) || group < 0 || group >= this.queues.list.length) return errnoErr("invalid", op, "ENOBUFS", `group ${group} is not a vring index (the device has ${this.queues.list.length})`);
    if (!Number.isInteger(asid) || asid < 0 || asid >= this.profile.asNum) return errnoErr("invalid", op, "EINVAL", `ASID ${asid} (the device has ${this.profile.asNum})`);
    const quirk = this.profile.name === "vdpa_sim_net";
    if (group > this.profile.groupNum || group === this.profile.groupNum && !quirk) return errnoErr("invalid", op, "EINVAL", `group ${group} (the device has ${this.profile.groupNum})`);
    if (group === this.profile.groupNum) return ok;
    if (this.core.groupAsid[group] === asid) return ok;
    this.core.groupAsid[group] = asid;
    this.queues.rebind(group);
    return ok;
  }
  getIovaRange() {
    return this.core.closed ? this.core.closedErr("VHOST_VDPA_GET_IOVA_RANGE") : E17.right(this.iovaRange());
  }
  // ---- virtqueues ----
  /**
   * VHOST_SET_VRING_NUM: a power of two in 1..max (vhost). Like vdpa_sim's set_vq_num it is only
   * stored: a running ring keeps its size until the queue is enabled again.
   */
  setVringNum(qi, num) {
    const op = "VHOST_SET_VRING_NUM";
    const q = this.queueOr(op, qi);
    if (E17.isLeft(q)) return q;
    if (!Number.isInteger(num) || num <= 0 || num > this.profile.vringNum || (num & num - 1) !== 0) {
      return errnoErr("invalid", op, "EINVAL", `queue size ${num} is not a power of two in 1..${this.profile.vringNum}`);
    }
    q.right.num = num;
    return ok;
  }
  /**
   * VHOST_SET_VRING_ADDR: IOVAs; avail (driver area) 2-byte and used (device area) 4-byte aligned
   * (vhost). After DRIVER_OK only while suspended (EINVAL otherwise, vhost_vdpa_vring_ioctl); the new
   * addresses take effect when the queue is next enabled (vdpasim_queue_ready).
   */
  setVringAddr(qi, addrs) {
    const op = "VHOST_SET_VRING_ADDR";
    const q = this.queueOr(op, qi);
    if (E17.isLeft(q)) return q;
    const { desc, driver, device } = addrs;
    if (![desc, driver, device].every((a) => Number.isSafeInteger(a) && a >= 0)) return errnoErr("invalid", op, "EFAULT", "ring addresses must be integers below 2^53");
    if (driver % 2 !== 0 || device % 4 !== 0) return errnoErr("invalid", op, "EINVAL", `misaligned ring: avail 0x${driver.toString(16)}, used 0x${device.toString(16)}`);
    if (this.core.runningUnsuspended()) return errnoErr("state", op, "EINVAL", "ring addresses change after DRIVER_OK only while suspended");
    q.right.addrs = { desc, driver, device };
    return ok;
  }
  /**
   * VHOST_SET_VRING_BASE. Split: last_avail_idx (≤ 0xffff, else EINVAL). Packed: vhost's
   * `avail idx | wrap << 15 | used idx << 16 | used wrap << 31`. After DRIVER_OK only while suspended
   * (EINVAL otherwise); a live ring takes it at once (vdpasim_set_vq_state).
   */
  setVringBase(qi, base) {
    const op = "VHOST_SET_VRING_BASE";
    const q = this.queueOr(op, qi);
    if (E17.isLeft(q)) return q;
    const layout = this.core.layoutNegotiated();
    if (!Number.isInteger(base) || base < 0 || base > 4294967295 || layout === "split" && base > 65535) {
      return errnoErr("invalid", op, "EINVAL", `vring base 0x${base.toString(16)} for a ${layout} ring`);
    }
    if (this.core.runningUnsuspended()) return errnoErr("state", op, "EINVAL", "the vring base changes after DRIVER_OK only while suspended");
    const b = decodeBase(layout, base);
    const next = layout === "split" ? { availIdx: b.availIdx, availWrap: true, usedIdx: b.availIdx, usedWrap: true } : b;
    if (layout === "packed" && (next.availIdx >= q.right.num || next.usedIdx >= q.right.num)) {
      return errnoErr("invalid", op, "EINVAL", `vring base 0x${base.toString(16)}: index beyond a packed ring of ${q.right.num}`);
    }
    if (q.right.ring !== void 0) {
      const bad = q.right.ring.setBase(next);
      if (bad !== void 0) return errnoErr("invalid", op, "EINVAL", bad.message);
    }
    q.right.base = next;
    return ok;
  }
  /** VHOST_GET_VRING_BASE: from the running ring when there is one (e.g. after SUSPEND), else the stored base. */
  getVringBase(qi) {
    const op = "VHOST_GET_VRING_BASE";
    const q = this.queueOr(op, qi);
    if (E17.isLeft(q)) return q;
    const s = q.right;
    const b = s.ring !== void 0 ? s.ring.base() : s.base;
    return E17.right(encodeBase(s.ring !== void 0 ? s.layout : this.core.layoutNegotiated(), b));
  }
  /**
   * VHOST_VDPA_SET_VRING_ENABLE. Enabling after DRIVER_OK starts the queue at once (the device offers
   * ENABLE_AFTER_DRIVER_OK); disabling keeps its position as the vring base.
   */
  setVringEnable(qi, enable) {
    const q = this.queueOr("VHOST_VDPA_SET_VRING_ENABLE", qi);
    if (E17.isLeft(q)) return q;
    const s = q.right;
    if (enable && !s.ready) {
      s.ready = true;
      if ((this.core.status & VIRTIO_CONFIG_S.DRIVER_OK) !== 0) this.queues.start(s);
    } else if (!enable && s.ready) {
      s.ready = false;
      this.queues.stop(s);
    }
    return ok;
  }
  /** VHOST_VDPA_SUSPEND: a no-op before DRIVER_OK (as the kernel); afterwards no queue is processed. */
  suspend() {
    const op = "VHOST_VDPA_SUSPEND";
    if (this.core.closed) return this.core.closedErr(op);
    if ((this.core.status & VIRTIO_CONFIG_S.DRIVER_OK) === 0) return ok;
    const f = this.core.faults.simple("suspend-fails");
    if (f !== void 0) return this.core.faultErr(op, f.errno ?? ERRNO.EIO, "suspend refused (injected fault)");
    this.core.suspended = true;
    return ok;
  }
  /** VHOST_VDPA_RESUME: kicks that arrived while suspended are replayed (vdpasim's pending_kick). */
  resume() {
    const op = "VHOST_VDPA_RESUME";
    if (this.core.closed) return this.core.closedErr(op);
    if ((this.core.status & VIRTIO_CONFIG_S.DRIVER_OK) === 0) return ok;
    const f = this.core.faults.simple("resume-fails");
    if (f !== void 0) return this.core.faultErr(op, f.errno ?? ERRNO.EIO, "resume refused (injected fault)");
    if (!this.core.suspended) return ok;
    this.core.suspended = false;
    const deferred = this.core.afterResume.splice(0);
    for (const fn of deferred) fn();
    if (this.core.pendingKick) {
      this.core.pendingKick = false;
      for (const q of this.queues.list) if (q.ring !== void 0) this.queues.markKicked(q);
    }
    return ok;
  }
  // ---- IOTLB ----
  iotlbBatchBegin(asid) {
    const r = this.iotlbOr("VHOST_IOTLB_BATCH_BEGIN", asid, true);
    if (E17.isLeft(r)) return r;
    this.inBatch = true;
    return ok;
  }
  /** vdpa_sim maps with dma_map, so updates take effect at once; the batch only frames them. */
  iotlbBatchEnd(asid) {
    const r = this.iotlbOr("VHOST_IOTLB_BATCH_END", asid);
    if (E17.isLeft(r)) return r;
    if (this.inBatch) this.stats.iotlbBatches++;
    this.inBatch = false;
    return ok;
  }
  iotlbUpdate(asid, iova, size, hva, perm) {
    const op = "VHOST_IOTLB_UPDATE";
    const t5 = this.iotlbOr(op, asid, true);
    if (E17.isLeft(t5)) return t5;
    const f = this.core.faults.iotlbUpdate(asid);
    if (f !== void 0) return this.core.faultErr(op, f.errno ?? ERRNO.ENOMEM, `IOTLB map of 0x${iova.toString(16)} (+0x${size.toString(16)}) in ASID ${asid} failed (injected fault)`);
    const r = t5.right.update(this.host, iova, size, hva, perm, this.iovaRange());
    if (E17.isLeft(r)) return E17.left(deviceError("iotlb", op, `ASID ${asid}: ${r.left.message}`, r.left.errno, errnoNameOf(r.left.errno)));
    this.stats.iotlbUpdates++;
    return ok;
  }
  iotlbInvalidate(asid, iova, size) {
    const t5 = this.iotlbOr("VHOST_IOTLB_INVALIDATE", asid);
    if (E17.isLeft(t5)) return t5;
    t5.right.invalidate(iova, size);
    this.stats.iotlbInvalidates++;
    return ok;
  }
  // ---- notifications ----
  /** Write queue `qi`'s kick eventfd: processing happens deferred (or in `waitCall` / `flush`). */
  kick(qi) {
    const q = this.queueOr("kick", qi);
    if (E17.isLeft(q)) return q;
    this.stats.kicks++;
    const s = q.right;
    if (this.core.suspended) {
      this.core.pendingKick = true;
      return ok;
    }
    if (s.ring === void 0) return ok;
    this.queues.markKicked(s);
    return ok;
  }
  /**
   * Wait for queue `qi`'s call. Pending kicks are processed first; if no call comes, virtual time
   * advances to the next timed event (a delayed ack) within the timeout, else to the timeout itself
   * and the answer is false. Never sleeps.
   */
  async waitCall(qi, timeoutMs) {
    const q = this.queueOr("waitCall", qi);
    if (E17.isLeft(q)) return q;
    await Promise.resolve();
    const s = q.right;
    const deadline = this.clock.now + Math.max(0, timeoutMs) * 1e3;
    for (; ; ) {
      if (this.core.closed) return this.core.closedErr("waitCall");
      this.queues.drain();
      if (s.callPending) {
        s.callPending = false;
        return E17.right(true);
      }
      const next = this.clock.nextEventAt();
      if (next !== void 0 && next <= deadline) {
        this.clock.advanceTo(next);
        continue;
      }
      this.clock.advanceTo(deadline);
      this.queues.drain();
      if (s.callPending) {
        s.callPending = false;
        return E17.right(true);
      }
      return E17.right(false);
    }
  }
  close() {
    this.core.closed = true;
    this.clock.cancelAll();
    for (const q of this.queues.list) q.ring = void 0;
    for (const t5 of this.core.iotlbs) t5.clear();
  }
  configMacString() {
    return formatMac(this.core.model.configMac);
  }
  /** struct virtio_net_config (virtio 1.2 §5.1.4), little-endian, `configSize` bytes. */
  configBytes() {
    const p = this.profile;
    const b = new Uint8Array(Math.max(24, p.configSize));
    const v = new DataView(b.buffer);
    b.set(this.core.model.configMac, 0);
    v.setUint16(6, VIRTIO_NET_S_LINK_UP | (this.core.model.announcePending ? VIRTIO_NET_S_ANNOUNCE : 0), true);
    v.setUint16(8, this.core.maxQueuePairs, true);
    v.setUint16(10, p.mtu, true);
    v.setUint32(12, p.speed >>> 0, true);
    b[16] = p.duplex;
    b[17] = p.rssMaxKeySize;
    v.setUint16(18, p.rssMaxIndirectionTableLength, true);
    v.setUint32(20, p.supportedHashTypes >>> 0, true);
    return b.subarray(0, p.configSize);
  }
  queueOr(op, qi) {
    if (this.core.closed) return this.core.closedErr(op);
    const q = Number.isInteger(qi) && qi >= 0 ? this.queues.list[qi] : void 0;
    return q === void 0 ? errnoErr("invalid", op, "ENOBUFS", `queue ${qi} (the device has ${this.queues.list.length})`) : E17.right(q);
  }
  /**
   * The IOTLB of `asid` for an IOTLB message. vhost-vdpa creates an address space on the first UPDATE
   * or BATCH_BEGIN (`create`); INVALIDATE and BATCH_END on one never created are EINVAL.
   */
  iotlbOr(op, asid, create = false) {
    if (this.core.closed) return this.core.closedErr(op);
    if (!this.core.owned) return errnoErr("ioctl", op, "EPERM", "VHOST_SET_OWNER first");
    if (asid !== 0 && !this.core.backendHas(VHOST_BACKEND_F.IOTLB_ASID)) return errnoErr("invalid", op, "EINVAL", `ASID ${asid} without VHOST_BACKEND_F_IOTLB_ASID`);
    const t5 = Number.isInteger(asid) && asid >= 0 ? this.core.iotlbs[asid] : void 0;
    if (t5 === void 0) return errnoErr("invalid", op, "EINVAL", `ASID ${asid} (the device has ${this.core.iotlbs.length})`);
    if (create) this.asCreated[asid] = true;
    else if (!this.asCreated[asid]) return errnoErr("invalid", op, "EINVAL", `ASID ${asid} has no address space yet (no UPDATE or BATCH_BEGIN)`);
    return E17.right(t5);
  }
  // ---- internals ----
  reset() {
    const core = this.core;
    core.status = 0;
    core.setDriverFeatures(0n);
    core.suspended = false;
    core.pendingKick = false;
    core.afterResume.length = 0;
    this.inBatch = false;
    core.clock.cancelAll();
    this.queues.resetAll();
    this.loopback.reset();
    core.groupAsid.fill(0);
    if (!core.backendHas(VHOST_BACKEND_F.IOTLB_PERSIST)) for (const t5 of core.iotlbs) t5.clear();
    core.model.reset(this.profile.macSurvivesReset ? formatMac(core.model.configMac) : core.provisionedMac, 0n);
  }
  iovaRange() {
    return { first: this.profile.iovaFirst, last: this.profile.iovaLast };
  }
};

// machines/device-lifecycle.ts
var E19 = __toESM(require_Either(), 1);

// src/state/lifecycle.ts
var E18 = __toESM(require_Either(), 1);
var KNOWN_STATUS = 207;
var INIT_ORDER = [VIRTIO_CONFIG_S.ACKNOWLEDGE, VIRTIO_CONFIG_S.DRIVER, VIRTIO_CONFIG_S.FEATURES_OK, VIRTIO_CONFIG_S.DRIVER_OK];
var statusError = (rule, status, message) => ({ _tag: "StatusError", rule, status, message });
var formatStatus = (status) => {
  const names = Object.keys(VIRTIO_CONFIG_S).filter((k) => (status & VIRTIO_CONFIG_S[k]) !== 0);
  return `0x${status.toString(16)}${names.length ? ` (${names.join("|")})` : " (RESET)"}`;
};
function checkStatus(status) {
  if (!Number.isInteger(status) || status < 0 || status > 255 || (status & ~KNOWN_STATUS) !== 0) {
    return E18.left(statusError("unknown-bit", status, `status ${formatStatus(status)} has bits outside virtio 1.2 \xA72.1`));
  }
  for (let i = 1; i < INIT_ORDER.length; i++) {
    if ((status & INIT_ORDER[i]) !== 0 && (status & INIT_ORDER[i - 1]) === 0) {
      return E18.left(statusError("out-of-order", status, `status ${formatStatus(status)} skips a step of virtio 1.2 \xA73.1.1`));
    }
  }
  return E18.right(status);
}
var statusConsistent = (status) => E18.isRight(checkStatus(status));
function writeStatus(current2, next) {
  if (next === 0) return E18.right(0);
  const checked = checkStatus(next);
  if (E18.isLeft(checked)) return checked;
  if ((current2 & VIRTIO_CONFIG_S.FAILED) !== 0) return E18.left(statusError("failed-set", next, "FAILED is set: the driver must reset the device first"));
  if ((current2 & ~next & ~VIRTIO_CONFIG_S.NEEDS_RESET) !== 0) {
    return E18.left(statusError("cleared-bit", next, `writing ${formatStatus(next)} over ${formatStatus(current2)} clears a bit without a reset`));
  }
  const added = next & ~current2;
  if ((added & VIRTIO_CONFIG_S.NEEDS_RESET) !== 0) return E18.left(statusError("driver-set-needs-reset", next, "NEEDS_RESET is set by the device only"));
  const steps = INIT_ORDER.filter((b) => (added & b) !== 0).length;
  if (steps > 1) return E18.left(statusError("out-of-order", next, `writing ${formatStatus(next)} over ${formatStatus(current2)} takes more than one step of \xA73.1.1`));
  return E18.right(next);
}
function featuresAccepted(statusReadBack) {
  return (statusReadBack & VIRTIO_CONFIG_S.FEATURES_OK) !== 0 ? E18.right(statusReadBack) : E18.left(statusError("features-ok-not-set", statusReadBack, `device cleared FEATURES_OK (read back ${formatStatus(statusReadBack)}): it refuses the feature subset`));
}
var DEPS = FEATURE_REQUIREMENTS.map(([name, alts]) => ({ name, mask: F[name], alts: alts.map((n) => F[n]) }));
function unmetDependencies(features) {
  return DEPS.filter((d) => (features & d.mask) !== 0n && !d.alts.some((a) => (features & a) !== 0n)).map((d) => d.name);
}
var negotiationError = (rule, features, message) => ({
  _tag: "NegotiationError",
  rule,
  features,
  message
});
function negotiate(offered, wanted, required = F.VERSION_1) {
  if ((offered & F.VERSION_1) === 0n) return E18.left(negotiationError("version-1-missing", ["VERSION_1"], "the device does not offer VIRTIO_F_VERSION_1"));
  let acc = offered & wanted;
  for (; ; ) {
    const drop = unmetDependencies(acc);
    if (drop.length === 0) break;
    for (const n of drop) acc &= ~F[n];
  }
  const missing = required & ~acc;
  if (missing !== 0n) {
    const names = featureNames(missing);
    return E18.left(negotiationError("required-missing", names, `required features not negotiable: ${names.join(", ")}`));
  }
  return E18.right(acc);
}
function validateAccepted(offered, accepted) {
  const extra = accepted & ~offered;
  if (extra !== 0n) {
    const names = featureNames(extra);
    return E18.left(negotiationError("not-offered", names, `features not offered by the device: ${names.join(", ")}`));
  }
  const unmet = unmetDependencies(accepted);
  if (unmet.length) return E18.left(negotiationError("dependency", unmet, `features without their virtio 1.2 \xA75.1.3.1 requirements: ${unmet.join(", ")}`));
  if ((accepted & F.VERSION_1) === 0n) return E18.left(negotiationError("version-1-missing", ["VERSION_1"], "VIRTIO_F_VERSION_1 not accepted"));
  return E18.right(accepted);
}
var toHex2 = (v) => `0x${v.toString(16)}`;
function fromHex2(s) {
  return /^0x[0-9a-f]{1,16}$/i.test(s) ? E18.right(BigInt(s)) : E18.left(`not a 64-bit 0x\u2026 mask: ${JSON.stringify(s)}`);
}

// machines/actors.ts
var ActorNotProvided = class extends Error {
  constructor(actor) {
    super(`actor "${actor}" is not provided: bind it with machine.provide({ actors: { ${actor} } })`);
    this.actor = actor;
    this.name = "ActorNotProvided";
  }
  actor;
};
var placeholder = (name) => fromPromise(() => Promise.reject(new ActorNotProvided(name)));
function errorText(e) {
  if (typeof e === "string") return e;
  if (typeof e === "object" && e !== null && typeof e.message === "string") {
    const op = e.op;
    const msg = e.message;
    return typeof op === "string" && !msg.includes(op) ? `${op}: ${msg}` : msg;
  }
  return String(e);
}
function phaseOf(value) {
  if (typeof value === "string") return value;
  const [k, v] = Object.entries(value)[0] ?? ["?", void 0];
  return v === void 0 ? k : `${k}.${phaseOf(v)}`;
}
function failureIn(self2, error) {
  const snap = self2.getSnapshot();
  const text = errorText(error);
  return snap?.value === void 0 ? text : `${phaseOf(snap.value)}: ${text}`;
}
var failTo = (target) => ({ target, actions: { type: "recordError", params: ({ event }) => ({ error: event.error }) } });

// machines/device-lifecycle.ts
var negotiated = (ctx, offered) => E19.chain(
  (o) => E19.chain((w) => E19.chain((r) => E19.mapLeft((e) => e.message)(negotiate(o, w, r)))(fromHex2(ctx.required)))(fromHex2(ctx.wanted))
)(fromHex2(offered));
var deviceLifecycleMachine = setup({
  types: {
    context: {},
    events: {},
    input: {}
  },
  actors: {
    /** Write status 0 and wait until it reads back 0 (§2.4.2). */
    resetDevice: placeholder("resetDevice"),
    /** VHOST_VDPA_SET_STATUS; outputs the status written. */
    writeStatus: placeholder("writeStatus"),
    /** VHOST_VDPA_GET_STATUS. */
    readStatus: placeholder("readStatus"),
    /** VHOST_GET_FEATURES. */
    readFeatures: placeholder("readFeatures"),
    /** VHOST_SET_FEATURES. */
    writeFeatures: placeholder("writeFeatures"),
    /** VHOST_VDPA_SUSPEND / VHOST_VDPA_RESUME. */
    suspendDevice: placeholder("suspendDevice"),
    resumeDevice: placeholder("resumeDevice")
  },
  guards: {
    /** §3.1.1 step 4 + §5.1.3.1: the offer leaves a valid subset with every required feature. */
    negotiable: ({ context }, params) => E19.isRight(negotiated(context, params.offered)),
    /** §3.1.1 step 6: FEATURES_OK still set on re-read. */
    featuresAccepted: (_, params) => E19.isRight(featuresAccepted(params.status)),
    /** A running device: DRIVER_OK set, neither FAILED nor NEEDS_RESET (§2.1). */
    driverOkSet: (_, params) => (params.status & VIRTIO_CONFIG_S.DRIVER_OK) !== 0 && (params.status & (VIRTIO_CONFIG_S.FAILED | VIRTIO_CONFIG_S.NEEDS_RESET)) === 0
  },
  actions: {
    recordError: assign({ error: ({ self: self2 }, params) => failureIn(self2, params.error) }),
    setStatus: assign({ status: (_, params) => params.status })
  }
}).createMachine({
  id: "device-lifecycle",
  context: ({ input }) => ({
    wanted: input.wanted,
    required: input.required ?? toHex2(1n << 32n),
    resetTimeoutMs: input.resetTimeoutMs ?? 1e3,
    offered: "0x0",
    negotiated: "0x0",
    status: 0,
    error: null
  }),
  initial: "reset",
  // §2.4: the driver may reset the device from any state.
  on: { RESET: { target: ".resetting" } },
  states: {
    reset: {
      on: {
        START: {
          target: "starting",
          actions: assign(({ context, event }) => ({ error: null, wanted: event.wanted ?? context.wanted, required: event.required ?? context.required }))
        },
        ATTACH: { target: "attaching", actions: assign(({ event }) => ({ error: null, offered: event.offered, negotiated: event.negotiated })) }
      }
    },
    // §3.1.1 step 1: reset the device (write 0, wait until it reads back 0)
    starting: {
      invoke: {
        src: "resetDevice",
        input: ({ context }) => ({ timeoutMs: context.resetTimeoutMs }),
        onDone: { target: "active", actions: assign({ status: 0, offered: "0x0", negotiated: "0x0" }) },
        onError: failTo("failed")
      }
    },
    attaching: {
      invoke: {
        src: "readStatus",
        onDone: [
          { guard: { type: "driverOkSet", params: ({ event }) => event.output }, target: "#device-lifecycle.active.driverOk.running", actions: { type: "setStatus", params: ({ event }) => event.output } },
          {
            target: "reset",
            actions: assign(({ event }) => ({ status: event.output.status, offered: "0x0", negotiated: "0x0", error: `cannot attach: device status 0x${event.output.status.toString(16)} is not running (DRIVER_OK)` }))
          }
        ],
        onError: failTo("reset")
      }
    },
    resetting: {
      invoke: {
        src: "resetDevice",
        input: ({ context }) => ({ timeoutMs: context.resetTimeoutMs }),
        onDone: { target: "reset", actions: assign({ status: 0, offered: "0x0", negotiated: "0x0", error: null }) },
        onError: failTo("failed")
      }
    },
    active: {
      initial: "acknowledge",
      on: {
        // §2.1.2: the device sets NEEDS_RESET and notifies a configuration change.
        DEVICE_ERROR: { target: "needsReset" },
        FAIL: { target: "failed", actions: assign({ error: ({ event }) => event.reason ?? "driver gave up" }) }
      },
      states: {
        acknowledge: {
          invoke: {
            src: "writeStatus",
            input: () => ({ status: VIRTIO_CONFIG_S.ACKNOWLEDGE }),
            onDone: { target: "driver", actions: { type: "setStatus", params: ({ event }) => event.output } },
            onError: failTo("#device-lifecycle.failed")
          }
        },
        driver: {
          invoke: {
            src: "writeStatus",
            input: ({ context }) => ({ status: context.status | VIRTIO_CONFIG_S.DRIVER }),
            onDone: { target: "negotiation", actions: { type: "setStatus", params: ({ event }) => event.output } },
            onError: failTo("#device-lifecycle.failed")
          }
        },
        negotiation: {
          initial: "readFeatures",
          states: {
            readFeatures: {
              invoke: {
                src: "readFeatures",
                onDone: [
                  {
                    guard: { type: "negotiable", params: ({ event }) => ({ offered: event.output.features }) },
                    target: "writeFeatures",
                    actions: assign(({ context, event }) => ({
                      offered: event.output.features,
                      negotiated: E19.getOrElse(() => "0x0")(E19.map(toHex2)(negotiated(context, event.output.features)))
                    }))
                  },
                  {
                    target: "#device-lifecycle.failed",
                    actions: assign(({ context, event }) => ({
                      offered: event.output.features,
                      error: E19.fold((m) => m, () => "")(negotiated(context, event.output.features))
                    }))
                  }
                ],
                onError: failTo("#device-lifecycle.failed")
              }
            },
            writeFeatures: {
              invoke: {
                src: "writeFeatures",
                input: ({ context }) => ({ features: context.negotiated }),
                onDone: { target: "#device-lifecycle.active.featuresOk" },
                onError: failTo("#device-lifecycle.failed")
              }
            }
          }
        },
        featuresOk: {
          initial: "write",
          states: {
            write: {
              invoke: {
                src: "writeStatus",
                input: ({ context }) => ({ status: context.status | VIRTIO_CONFIG_S.FEATURES_OK }),
                onDone: { target: "reread", actions: { type: "setStatus", params: ({ event }) => event.output } },
                onError: failTo("#device-lifecycle.failed")
              }
            },
            reread: {
              invoke: {
                src: "readStatus",
                onDone: [
                  {
                    guard: { type: "featuresAccepted", params: ({ event }) => event.output },
                    target: "accepted",
                    actions: { type: "setStatus", params: ({ event }) => event.output }
                  },
                  {
                    target: "#device-lifecycle.failed",
                    actions: assign(({ event }) => ({
                      status: event.output.status,
                      error: E19.fold((e) => e.message, () => "")(featuresAccepted(event.output.status))
                    }))
                  }
                ],
                onError: failTo("#device-lifecycle.failed")
              }
            },
            // §3.1.1 step 7: device-specific setup (virtqueues, the shadow CVQ, ASIDs) before DRIVER_OK
            accepted: {
              on: { DRIVER_OK: { target: "#device-lifecycle.active.driverOk" } }
            }
          }
        },
        driverOk: {
          initial: "write",
          states: {
            write: {
              invoke: {
                src: "writeStatus",
                input: ({ context }) => ({ status: context.status | VIRTIO_CONFIG_S.DRIVER_OK }),
                onDone: { target: "running", actions: { type: "setStatus", params: ({ event }) => event.output } },
                onError: failTo("#device-lifecycle.failed")
              }
            },
            running: {
              on: { SUSPEND: { target: "suspending", actions: assign({ error: null }) } }
            },
            suspending: {
              invoke: {
                src: "suspendDevice",
                onDone: { target: "suspended" },
                // a device without SUSPEND keeps running; the caller sees why
                onError: failTo("running")
              }
            },
            suspended: {
              on: { RESUME: { target: "resuming" } }
            },
            resuming: {
              invoke: {
                src: "resumeDevice",
                onDone: { target: "running" },
                onError: failTo("#device-lifecycle.failed")
              }
            }
          }
        }
      }
    },
    needsReset: {
      entry: assign({ status: ({ context }) => context.status | VIRTIO_CONFIG_S.NEEDS_RESET, error: "device set NEEDS_RESET" })
    },
    failed: {
      initial: "reporting",
      states: {
        // §2.1: the driver sets FAILED when it gives up on the device.
        reporting: {
          invoke: {
            src: "writeStatus",
            input: ({ context }) => ({ status: context.status | VIRTIO_CONFIG_S.FAILED }),
            onDone: { target: "givenUp", actions: { type: "setStatus", params: ({ event }) => event.output } },
            onError: { target: "givenUp" }
          }
        },
        givenUp: {}
      }
    }
  }
});

// src/effects/lifecycle.ts
var E21 = __toESM(require_Either(), 1);

// machines/port.ts
var isPort = (logic) => typeof logic === "object" && logic !== null && logic.port === true;
function portPlaceholder(name) {
  const logic = fromCallback(() => {
    throw new ActorNotProvided(name);
  });
  return { ...logic, port: true };
}
var isPromise = (v) => typeof v?.then === "function";
function portOf(effects) {
  const logic = fromCallback(({ sendBack, receive, input }) => {
    const ctl = new AbortController();
    let lastSeq = -1;
    let lastReply;
    receive((call) => {
      if (call.type !== "call") return;
      if (call.seq <= lastSeq) {
        if (call.seq === lastSeq && lastReply !== void 0) sendBack(lastReply);
        return;
      }
      lastSeq = call.seq;
      lastReply = void 0;
      const seq = call.seq;
      const op = call.op;
      const reply = (r) => {
        if (seq !== lastSeq) return;
        lastReply = r;
        sendBack(r);
      };
      const fail4 = (error) => reply({ type: `${op}.error`, seq, error });
      let out;
      try {
        out = effects[op](call.input, ctl.signal);
      } catch (error) {
        fail4(error);
        return;
      }
      if (isPromise(out)) out.then((output) => reply({ type: `${op}.done`, seq, output }), fail4);
      else reply({ type: `${op}.done`, seq, output: out });
    });
    if (typeof input === "object" && input !== null && input.restored === true) sendBack({ type: "port.ready" });
    return () => ctl.abort();
  });
  const restored = { status: "active", output: void 0, error: void 0, input: { restored: true } };
  return { ...logic, port: true, restoreSnapshot: () => restored };
}

// machines/contract.ts
var isMachine = (l) => typeof l === "object" && l !== null && typeof l.provide === "function" && typeof l.root === "object";
function actorsFor(machine, effects) {
  const declared = machine.implementations.actors ?? {};
  const out = {};
  for (const [src, fx] of Object.entries(effects)) {
    if (fx === void 0) continue;
    const d = declared[src];
    if (d === void 0) throw new TypeError(`machine "${machine.id}" declares no actor "${src}"`);
    if (isMachine(d)) out[src] = d.provide({ actors: actorsFor(d, fx) });
    else if (isPort(d)) out[src] = portOf(fx);
    else {
      const f = fx;
      out[src] = fromPromise(({ input, signal, self: self2 }) => f(input, signal, self2.id));
    }
  }
  return out;
}
function bind(machine, effects, replace = {}) {
  const actors = { ...actorsFor(machine, effects), ...replace };
  return machine.provide({ actors });
}

// src/effects/common.ts
var E20 = __toESM(require_Either(), 1);
var orReject = (e) => E20.isRight(e) ? Promise.resolve(e.right) : Promise.reject(e.left);

// src/effects/lifecycle.ts
var sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function lifecycleEffects(dev2) {
  return {
    // §2.4.2: write 0, then wait until the device reads back 0
    async resetDevice({ timeoutMs }, signal) {
      await orReject(dev2.setStatus(0));
      const deadline = Date.now() + timeoutMs;
      for (; ; ) {
        const s = await orReject(dev2.getStatus());
        if (s === 0) return { status: 0 };
        if (signal.aborted || Date.now() >= deadline) {
          throw deviceError("timeout", "VHOST_VDPA_SET_STATUS", `status still 0x${s.toString(16)} ${timeoutMs} ms after reset`);
        }
        await sleep(1);
      }
    },
    async writeStatus({ status }) {
      const current2 = await orReject(dev2.getStatus());
      const ok2 = writeStatus(current2, status);
      if (E21.isLeft(ok2)) throw deviceError("invalid", "VHOST_VDPA_SET_STATUS", ok2.left.message);
      await orReject(dev2.setStatus(status));
      return { status };
    },
    async readStatus() {
      return { status: await orReject(dev2.getStatus()) };
    },
    async readFeatures() {
      return { features: toHex2(await orReject(dev2.getFeatures())) };
    },
    async writeFeatures({ features }) {
      const f = fromHex2(features);
      if (E21.isLeft(f)) throw deviceError("invalid", "VHOST_SET_FEATURES", f.left);
      await orReject(dev2.setFeatures(f.right));
      return { features };
    },
    suspendDevice: async () => orReject(dev2.suspend()),
    resumeDevice: async () => orReject(dev2.resume())
  };
}

// src/mbt/runner.ts
var settle = () => new Promise((r) => setImmediate(() => setImmediate(r)));
var ActorScript = class {
  pending = /* @__PURE__ */ new Map();
  started = [];
  logic(src) {
    return fromPromise(
      ({ input, signal }) => new Promise((resolve, reject) => {
        const p = { input, resolve, reject };
        this.pending.set(src, p);
        this.started.push(src);
        signal.addEventListener("abort", () => {
          if (this.pending.get(src) === p) this.pending.delete(src);
        });
      })
    );
  }
  /** Actors for `machine.provide({ actors })`: one scripted stand-in per declared actor. */
  actorsFor(machine) {
    const out = {};
    for (const src of Object.keys(machine.implementations.actors)) out[src] = this.logic(src);
    return out;
  }
  inputOf(src) {
    return this.pending.get(src)?.input;
  }
  isRunning(src) {
    return this.pending.has(src);
  }
  settle(src, how) {
    const p = this.pending.get(src);
    if (p === void 0) return false;
    this.pending.delete(src);
    if ("output" in how) p.resolve(how.output);
    else p.reject(how.error);
    return true;
  }
};
function delayMs(machine, name, snapshot) {
  const d = machine.implementations.delays[name];
  if (typeof d === "number") return d;
  if (typeof d === "function") return Number(d({ context: snapshot.context, event: { type: "xstate.after" } }));
  const n = Number(name);
  return Number.isFinite(n) ? n : 0;
}
function scriptedHarness(script) {
  return {
    script,
    machine: script.machine,
    ...script.infeasible ? { infeasible: (p) => script.infeasible(p) } : {},
    start(path) {
      const actors = new ActorScript();
      const clock = new SimulatedClock();
      const machine = script.machine.provide({ actors: actors.actorsFor(script.machine) });
      const actor = createActor(machine, { input: script.input(path), clock });
      actor.start();
      return {
        actor,
        async perform(edge, view) {
          await settle();
          switch (edge.kind) {
            case "event":
              actor.send(script.event?.(edge, view) ?? { type: edge.trigger });
              break;
            case "done": {
              const output = script.output?.(edge, view, actors.inputOf(edge.trigger));
              if (!actors.settle(edge.trigger, { output })) throw new Error(`actor ${edge.trigger} is not running at step ${view.index}`);
              break;
            }
            case "error":
              if (!actors.settle(edge.trigger, { error: script.error?.(edge, view) ?? new Error(`injected fault in ${edge.trigger}`) })) {
                throw new Error(`actor ${edge.trigger} is not running at step ${view.index}`);
              }
              break;
            case "after":
              clock.increment(delayMs(script.machine, edge.trigger, view.snapshot));
              break;
          }
          await settle();
        },
        invariants: (view) => script.invariants?.(view) ?? [],
        dispose() {
        }
      };
    }
  };
}

// src/mbt/scripts.ts
var E26 = __toESM(require_Either(), 1);

// machines/svq-switch.ts
var svqSwitchMachine = setup({
  types: {
    context: {},
    events: {},
    input: {}
  },
  actors: {
    /** VHOST_VDPA_SUSPEND (the device stops processing, rings stay as they are). */
    suspendDevice: placeholder("suspendDevice"),
    /** VHOST_GET_VRING_BASE per queue. */
    readVringBases: placeholder("readVringBases"),
    /** Allocate the shadow rings, map them in the IOVA tree and the device IOTLB. */
    mapShadowRings: placeholder("mapShadowRings"),
    /** VHOST_SET_VRING_ADDR / _BASE to the shadow rings, start forwarding. */
    pointToShadow: placeholder("pointToShadow"),
    /** VHOST_VDPA_RESUME. */
    resumeDevice: placeholder("resumeDevice"),
    /** Drain the shadow rings: forward used buffers, hand in-flight ones back to the guest. */
    drainShadow: placeholder("drainShadow"),
    /** Write used idx / avail positions back to the guest's rings. */
    writeBackIndexes: placeholder("writeBackIndexes"),
    /** Unmap and free the shadow rings. */
    unmapShadowRings: placeholder("unmapShadowRings"),
    /** VHOST_SET_VRING_ADDR / _BASE back to the guest rings. */
    pointToGuest: placeholder("pointToGuest"),
    /** Undo the steps in `progress` (last first) and restart the device in mode `to`. */
    rollback: placeholder("rollback")
  },
  actions: {
    markStep: assign({ progress: ({ context }, params) => [...context.progress, params.step] }),
    recordError: assign({ error: ({ self: self2 }, params) => failureIn(self2, params.error) })
  }
}).createMachine({
  id: "svq-switch",
  context: ({ input }) => ({
    queues: [...input.queues],
    mode: "passthrough",
    trigger: null,
    bases: [],
    progress: [],
    handedBack: 0,
    error: null
  }),
  initial: "passthrough",
  states: {
    passthrough: {
      entry: assign({ mode: "passthrough", progress: [] }),
      on: { ENABLE: { target: "enabling", actions: assign({ trigger: ({ event }) => event.trigger ?? "request", error: null }) } }
    },
    enabling: {
      initial: "suspending",
      states: {
        suspending: {
          invoke: { src: "suspendDevice", onDone: { target: "readingBases", actions: { type: "markStep", params: { step: "suspended" } } }, onError: failTo("#svq-switch.enabling.rollingBack") }
        },
        readingBases: {
          invoke: {
            src: "readVringBases",
            input: ({ context }) => ({ queues: context.queues }),
            onDone: { target: "mapping", actions: [assign({ bases: ({ event }) => event.output.bases }), { type: "markStep", params: { step: "bases-read" } }] },
            onError: failTo("#svq-switch.enabling.rollingBack")
          }
        },
        mapping: {
          invoke: {
            src: "mapShadowRings",
            input: ({ context }) => ({ queues: context.queues, bases: context.bases }),
            onDone: { target: "pointing", actions: { type: "markStep", params: { step: "mapped" } } },
            onError: failTo("#svq-switch.enabling.rollingBack")
          }
        },
        pointing: {
          invoke: {
            src: "pointToShadow",
            input: ({ context }) => ({ queues: context.queues, bases: context.bases }),
            onDone: { target: "restarting", actions: { type: "markStep", params: { step: "pointed" } } },
            onError: failTo("#svq-switch.enabling.rollingBack")
          }
        },
        restarting: {
          invoke: { src: "resumeDevice", onDone: { target: "#svq-switch.shadow" }, onError: failTo("#svq-switch.enabling.rollingBack") }
        },
        /** Undo what this switch did, back to passthrough mode. */
        rollingBack: {
          invoke: {
            src: "rollback",
            input: ({ context }) => ({ queues: context.queues, to: "passthrough", progress: context.progress, bases: context.bases }),
            onDone: { target: "#svq-switch.passthrough" },
            onError: {
              target: "#svq-switch.failed",
              actions: assign({ error: ({ context, event }) => `${context.error ?? "switch failed"}; rollback to passthrough failed: ${errorText(event.error)}` })
            }
          }
        }
      }
    },
    shadow: {
      entry: assign({ mode: "shadow", progress: [] }),
      on: { DISABLE: { target: "disabling", actions: assign({ trigger: ({ event }) => event.trigger ?? "request", error: null }) } }
    },
    disabling: {
      initial: "stopping",
      states: {
        stopping: {
          invoke: { src: "suspendDevice", onDone: { target: "draining", actions: { type: "markStep", params: { step: "suspended" } } }, onError: failTo("#svq-switch.disabling.rollingBack") }
        },
        draining: {
          invoke: {
            src: "drainShadow",
            input: ({ context }) => ({ queues: context.queues }),
            onDone: {
              target: "writingBack",
              actions: [assign({ handedBack: ({ event }) => event.output.handedBack, bases: ({ event }) => event.output.bases }), { type: "markStep", params: { step: "drained" } }]
            },
            onError: failTo("#svq-switch.disabling.rollingBack")
          }
        },
        writingBack: {
          invoke: {
            src: "writeBackIndexes",
            input: ({ context }) => ({ queues: context.queues, bases: context.bases }),
            onDone: { target: "unmapping", actions: { type: "markStep", params: { step: "written-back" } } },
            onError: failTo("#svq-switch.disabling.rollingBack")
          }
        },
        unmapping: {
          invoke: {
            src: "unmapShadowRings",
            input: ({ context }) => ({ queues: context.queues }),
            onDone: { target: "pointing", actions: { type: "markStep", params: { step: "unmapped" } } },
            onError: failTo("#svq-switch.disabling.rollingBack")
          }
        },
        pointing: {
          invoke: {
            src: "pointToGuest",
            input: ({ context }) => ({ queues: context.queues, bases: context.bases }),
            onDone: { target: "restarting", actions: { type: "markStep", params: { step: "pointed" } } },
            onError: failTo("#svq-switch.disabling.rollingBack")
          }
        },
        restarting: {
          invoke: { src: "resumeDevice", onDone: { target: "#svq-switch.passthrough" }, onError: failTo("#svq-switch.disabling.rollingBack") }
        },
        /** Undo what this switch did, back to shadow mode. */
        rollingBack: {
          invoke: {
            src: "rollback",
            input: ({ context }) => ({ queues: context.queues, to: "shadow", progress: context.progress, bases: context.bases }),
            onDone: { target: "#svq-switch.shadow" },
            onError: {
              target: "#svq-switch.failed",
              actions: assign({ error: ({ context, event }) => `${context.error ?? "switch failed"}; rollback to shadow failed: ${errorText(event.error)}` })
            }
          }
        }
      }
    },
    /** Neither mode could be restored: the device needs a reset by its owner. */
    failed: {
      on: { RESET: { target: "passthrough", actions: assign({ bases: [], handedBack: 0 }) } }
    }
  }
});

// machines/cvq-command.ts
var isTimeout = (e) => typeof e === "object" && e !== null && (e.errno === "ETIMEDOUT" || e.kind === "timeout");
var isNeedsReset = (e) => typeof e === "object" && e !== null && e.kind === "needs-reset";
function firstBadAck(acks) {
  for (let i = 0; i < acks.length; i++) {
    const a = acks[i];
    if (a.len < 0) return { at: i, kind: "timeout" };
    if (a.len !== CTRL_ACK_LEN) return { at: i, kind: "wrong-length" };
    if (a.ack !== VIRTIO_NET_OK) return { at: i, kind: "ack-err" };
  }
  return void 0;
}
var batchStart = (c) => c.cursor - c.inFlight;
var nameAt = (c, i) => c.commands[i]?.name ?? `command #${i}`;
var blamed = (c, error) => {
  const at = typeof error === "object" && error !== null ? error.index : void 0;
  return typeof at === "number" && Number.isInteger(at) && at >= 0 && at < c.inFlight ? batchStart(c) + at : batchStart(c);
};
var isReply = (c, e) => e.seq === c.seq;
var cvqCommandMachine = setup({
  types: {
    context: {},
    events: {},
    input: {},
    output: {}
  },
  actors: {
    /** The shadow CVQ's effect port: `writeBatch` and `awaitAcks` (CvqOps). */
    cvqPort: portPlaceholder("cvqPort")
  },
  guards: {
    hasPending: ({ context }) => context.cursor < context.commands.length,
    /** The reply answers the request in flight (a stale one after a restart is ignored). */
    isReply: ({ context, event }) => "seq" in event && isReply(context, event),
    ackTimedOut: ({ context, event }) => event.type === "awaitAcks.error" && isReply(context, event) && isTimeout(event.error),
    deviceNeedsReset: ({ context, event }) => event.type === "awaitAcks.error" && isReply(context, event) && isNeedsReset(event.error),
    wroteWrongLength: ({ context, event }) => event.type === "awaitAcks.done" && isReply(context, event) && firstBadAck(event.output.acks)?.kind === "wrong-length",
    ackedErr: ({ context, event }) => event.type === "awaitAcks.done" && isReply(context, event) && firstBadAck(event.output.acks)?.kind === "ack-err",
    unanswered: ({ context, event }) => event.type === "awaitAcks.done" && isReply(context, event) && firstBadAck(event.output.acks)?.kind === "timeout"
  },
  actions: {
    /** Ask the port to write the next batch. */
    requestWrite: sendTo("port", ({ context }) => ({
      type: "call",
      op: "writeBatch",
      seq: context.seq,
      input: { strategy: context.strategy, commands: context.commands, first: context.cursor }
    })),
    /** Ask the port for the acks of the batch in flight. */
    requestAcks: sendTo("port", ({ context }) => ({
      type: "call",
      op: "awaitAcks",
      seq: context.seq,
      input: { first: batchStart(context), count: context.inFlight, timeoutMs: context.ackTimeoutMs }
    })),
    nextRequest: assign({ seq: ({ context }) => context.seq + 1 }),
    wrote: assign(({ context, event }) => {
      if (event.type !== "writeBatch.done") return {};
      return { cursor: context.cursor + event.output.written, inFlight: event.output.written, seq: context.seq + 1 };
    }),
    /** Count the OK prefix of the batch as applied and record the first bad ack (naming its command). */
    checkAcks: assign(({ context, event }) => {
      if (event.type !== "awaitAcks.done") return {};
      const acks = event.output.acks;
      const start = batchStart(context);
      const bad = firstBadAck(acks);
      const next = { inFlight: 0, roundTrips: context.roundTrips + 1, seq: context.seq + 1 };
      if (bad === void 0) return { ...next, applied: start + acks.length };
      const index = start + bad.at;
      const a = acks[bad.at];
      const command = nameAt(context, index);
      const failure2 = bad.kind === "ack-err" ? { kind: "ack-err", errno: "EIO", index, command, message: `EIO: device acked ${command} with VIRTIO_NET_ERR (${a.ack})` } : bad.kind === "wrong-length" ? { kind: "wrong-length", errno: "EIO", index, command, message: `EIO: device wrote ${a.len} bytes for the ack of ${command}, expected ${CTRL_ACK_LEN}` } : { kind: "timeout", errno: "ETIMEDOUT", index, command, message: `ETIMEDOUT: no ack for ${command}` };
      return { ...next, applied: index, failure: failure2 };
    }),
    timedOut: assign(({ context, event }) => {
      const index = event.type === "awaitAcks.error" ? blamed(context, event.error) : batchStart(context);
      const command = nameAt(context, index);
      const detail = event.type === "awaitAcks.error" ? errorText(event.error) : `no ack within ${context.ackTimeoutMs} ms`;
      return {
        applied: batchStart(context),
        failure: { kind: "timeout", errno: "ETIMEDOUT", index, command, message: `ETIMEDOUT at ${command}: ${detail}` }
      };
    }),
    needsReset: assign(({ context, event }) => {
      const index = event.type === "awaitAcks.error" ? blamed(context, event.error) : batchStart(context);
      const command = nameAt(context, index);
      return {
        applied: batchStart(context),
        failure: { kind: "needs-reset", errno: "EIO", index, command, message: `EIO: the device set NEEDS_RESET with ${command} in flight` }
      };
    }),
    deviceFailed: assign(({ context, event }) => {
      const error = event.type === "writeBatch.error" || event.type === "awaitAcks.error" ? event.error : void 0;
      const index = event.type === "writeBatch.error" ? context.cursor : blamed(context, error);
      const command = nameAt(context, index);
      return { applied: batchStart(context), failure: { kind: "device", errno: "EIO", index, command, message: `EIO at ${command}: ${errorText(error)}` } };
    })
  },
  delays: {
    ackTimeout: ({ context }) => context.ackTimeoutMs
  }
}).createMachine({
  id: "cvq-command",
  context: ({ input }) => ({
    strategy: input.strategy,
    ackTimeoutMs: input.ackTimeoutMs,
    commands: [...input.commands ?? []],
    cursor: 0,
    inFlight: 0,
    applied: 0,
    roundTrips: 0,
    seq: 0,
    failure: null
  }),
  initial: "queued",
  states: {
    queued: {
      on: {
        ENQUEUE: { actions: assign({ commands: ({ context, event }) => [...context.commands, ...event.commands] }) },
        FLUSH: [{ guard: "hasPending", target: "flushing" }, { target: "done" }]
      }
    },
    /** Batches on the wire: the effect port lives as long as the flush. */
    flushing: {
      invoke: { id: "port", src: "cvqPort" },
      initial: "writing",
      states: {
        writing: {
          entry: "requestWrite",
          on: {
            "writeBatch.done": { guard: "isReply", target: "inFlight", actions: "wrote" },
            "writeBatch.error": { guard: "isReply", target: "#cvq-command.deviceError", actions: "deviceFailed" },
            // a restored port never saw the request: ask again (same seq)
            "port.ready": { target: "writing", reenter: true }
          }
        },
        inFlight: {
          entry: "requestAcks",
          on: {
            "awaitAcks.done": [
              { guard: "wroteWrongLength", target: "#cvq-command.wrongLength", actions: "checkAcks" },
              { guard: "ackedErr", target: "#cvq-command.ackErr", actions: "checkAcks" },
              { guard: "unanswered", target: "#cvq-command.timedOut", actions: "checkAcks" },
              // all OK: more pending means another batch
              { guard: and(["isReply", "hasPending"]), target: "writing", actions: "checkAcks" },
              { guard: "isReply", target: "#cvq-command.done", actions: "checkAcks" }
            ],
            "awaitAcks.error": [
              { guard: "ackTimedOut", target: "#cvq-command.timedOut", actions: "timedOut" },
              { guard: "deviceNeedsReset", target: "#cvq-command.needsReset", actions: "needsReset" },
              { guard: "isReply", target: "#cvq-command.deviceError", actions: "deviceFailed" }
            ],
            "port.ready": { target: "inFlight", reenter: true }
          },
          // backstop for an op that never answers: the machine's own bound, from its input
          after: { ackTimeout: { target: "#cvq-command.timedOut", actions: "timedOut" } }
        }
      }
    },
    done: { type: "final" },
    ackErr: { type: "final" },
    wrongLength: { type: "final" },
    timedOut: { type: "final" },
    needsReset: { type: "final" },
    deviceError: { type: "final" }
  },
  output: ({ context }) => ({ ok: context.failure === null, applied: context.applied, roundTrips: context.roundTrips, failure: context.failure })
});

// machines/migration.ts
var E25 = __toESM(require_Either(), 1);

// src/state/migration-record.ts
var E22 = __toESM(require_Either(), 1);
var import_function = __toESM(require_function(), 1);
var t3 = __toESM(require_lib(), 1);

// src/state/show-value.ts
function showValue(u, max = 60) {
  if (Array.isArray(u)) return u.length === 0 ? "[]" : `an array of ${u.length}`;
  if (u === null) return "null";
  if (typeof u === "object") {
    const keys = Object.keys(u);
    const shown = keys.slice(0, 4).map((k) => JSON.stringify(k.length > 20 ? `${k.slice(0, 20)}\u2026` : k));
    return keys.length === 0 ? "{}" : `an object with keys ${shown.join(", ")}${keys.length > 4 ? ", \u2026" : ""}`;
  }
  if (typeof u === "bigint") return `${u}n`;
  if (u === void 0) return "undefined";
  const s = typeof u === "string" || typeof u === "number" || typeof u === "boolean" ? JSON.stringify(u) : String(u);
  return s.length > max ? `${s.slice(0, max)}\u2026` : s;
}

// src/state/migration-record.ts
var MIGRATION_FORMAT = "shadowvq-migration";
var MIGRATION_RECORD_VERSION = 1;
var HexMask = t3.brand(t3.string, (s) => E22.isRight(fromHex2(s)), "HexMask");
var U32 = t3.brand(t3.number, (n) => Number.isInteger(n) && n >= 0 && n <= 4294967295, "U32");
var QueueIndex = t3.brand(t3.number, (n) => Number.isInteger(n) && n >= 0 && n <= 65536, "QueueIndex");
var VringRecord = t3.readonly(t3.strict({ index: QueueIndex, base: U32 }), "VringRecord");
var DirtySummary = t3.readonly(
  t3.strict({ pageSize: U32, rounds: U32, pagesSent: t3.number, remaining: t3.number }),
  "DirtySummary"
);
var FeatureRecord = t3.readonly(t3.strict({ offered: HexMask, negotiated: HexMask, backend: HexMask }), "FeatureRecord");
var MigrationRecordV1 = t3.readonly(
  t3.strict({
    format: t3.literal(MIGRATION_FORMAT),
    version: t3.literal(MIGRATION_RECORD_VERSION),
    device: t3.unknown,
    features: FeatureRecord,
    vrings: t3.readonlyArray(VringRecord),
    dirty: DirtySummary
  }),
  "MigrationRecordV1"
);
var recordError = (paths, message) => ({ _tag: "MigrationRecordError", paths, message });
function describe(errors2) {
  const lines = errors2.map((e) => {
    const path = e.context.map((c) => c.key).filter((k) => k !== "").join(".");
    const expected = e.context[e.context.length - 1]?.type.name ?? "?";
    return { path, text: `${path || "(record)"}: expected ${expected}, got ${showValue(e.value)}` };
  });
  return recordError(
    lines.map((l) => l.path),
    `invalid migration record: ${lines.map((l) => l.text).join("; ")}`
  );
}
function decodeMigrationRecord(u, decodeDevice) {
  if (typeof u === "object" && u !== null && u.version !== void 0 && u.version !== MIGRATION_RECORD_VERSION) {
    return E22.left(recordError(["version"], `unsupported migration record version ${showValue(u.version)} (this build reads ${MIGRATION_RECORD_VERSION})`));
  }
  return (0, import_function.pipe)(
    MigrationRecordV1.decode(u),
    E22.mapLeft(describe),
    E22.chain((r) => {
      const offered = BigInt(r.features.offered);
      const negotiated2 = BigInt(r.features.negotiated);
      return (0, import_function.pipe)(
        validateAccepted(offered, negotiated2),
        E22.bimap(
          (e) => recordError(["features.negotiated"], `invalid migration record: ${e.message}`),
          () => r
        )
      );
    }),
    E22.chain((r) => {
      const seen = /* @__PURE__ */ new Set();
      for (let i = 0; i < r.vrings.length; i++) {
        const q = r.vrings[i].index;
        if (seen.has(q)) return E22.left(recordError([`vrings.${i}.index`], `invalid migration record: vring ${q} recorded twice`));
        seen.add(q);
      }
      return E22.right(r);
    }),
    E22.chain(
      (r) => decodeDevice === void 0 ? E22.right(r) : (0, import_function.pipe)(
        decodeDevice(r.device),
        E22.bimap(
          (e) => recordError(["device"], `invalid migration record: device state: ${e.message}`),
          () => r
        )
      )
    )
  );
}
function makeMigrationRecord(parts, decodeDevice) {
  const hex4 = (v) => `0x${v.toString(16)}`;
  return decodeMigrationRecord(
    {
      format: MIGRATION_FORMAT,
      version: MIGRATION_RECORD_VERSION,
      device: parts.device,
      features: { offered: hex4(parts.offered), negotiated: hex4(parts.negotiated), backend: hex4(parts.backend) },
      vrings: parts.vrings.map((v) => ({ index: v.index, base: v.base })),
      dirty: { ...parts.dirty }
    },
    decodeDevice
  );
}

// src/state/record-plan.ts
var E24 = __toESM(require_Either(), 1);

// src/state/json.ts
var E23 = __toESM(require_Either(), 1);
var t4 = __toESM(require_lib(), 1);
var stateJsonError = (issues) => ({
  _tag: "StateJsonError",
  issues,
  message: issues.map((i) => `${i.path === "" ? "(document)" : i.path}: ${i.message}`).join("; ")
});
var intIn = (name, min, max) => new t4.Type(
  name,
  (u) => typeof u === "number" && Number.isInteger(u) && u >= min && u <= max,
  (u, c) => typeof u === "number" && Number.isInteger(u) && u >= min && u <= max ? t4.success(u) : t4.failure(u, c, `expected an integer in ${min}..${max}, got ${showValue(u)}`),
  t4.identity
);
var macString = new t4.Type(
  "MAC",
  (u) => typeof u === "string" && isMacString(u),
  (u, c) => typeof u === "string" && isMacString(u) ? t4.success(normaliseMac(u)) : t4.failure(u, c, `expected a MAC "xx:xx:xx:xx:xx:xx", got ${showValue(u)}`),
  t4.identity
);
var keyHex = new t4.Type(
  "HexKey",
  (u) => typeof u === "string" && fromHex(u) !== void 0 && u.length <= 510,
  (u, c) => {
    if (typeof u !== "string" || fromHex(u) === void 0) return t4.failure(u, c, `expected an even-length hex string, got ${showValue(u)}`);
    if (u.length > 510) return t4.failure(u, c, `key of ${u.length / 2} bytes exceeds 255 (u8 hash_key_length)`);
    return t4.success(u.toLowerCase());
  },
  t4.identity
);
var offloadsHex = new t4.Type(
  "GuestOffloads",
  (u) => typeof u === "bigint",
  (u, c) => typeof u === "string" && /^0x[0-9a-f]{1,16}$/i.test(u) ? t4.success(BigInt(u)) : t4.failure(u, c, `expected a hex mask "0x\u2026" of at most 64 bits, got ${showValue(u)}`),
  (v) => `0x${v.toString(16)}`
);
var arrayOf = (item, name) => t4.array(item, name);
var nullable = (codec) => new t4.Type(
  `${codec.name} | null`,
  (u) => u === null || codec.is(u),
  (u, c) => u === null ? t4.success(null) : codec.validate(u, c),
  (a) => a === null ? null : codec.encode(a)
);
var closed = (props, name) => {
  const inner = t4.type(props, name);
  return new t4.Type(
    name,
    inner.is,
    (u, c) => {
      const base = inner.validate(u, c);
      if (typeof u !== "object" || u === null || Array.isArray(u)) return base;
      const extra = Object.keys(u).filter((k) => !Object.prototype.hasOwnProperty.call(props, k));
      if (extra.length === 0) return base;
      const errs = extra.map((k) => ({ value: u[k], context: [...c, { key: k, type: t4.never, actual: u[k] }], message: `unknown key "${k}"` }));
      return E23.isLeft(base) ? t4.failures([...base.left, ...errs]) : t4.failures(errs);
    },
    inner.encode
  );
};
var u32 = intIn("u32", 0, 4294967295);
var hashTypes = intIn("hashTypes", 0, VIRTIO_NET_RSS_HASH_TYPE_ALL);
var kit = { intIn, u32, hashTypes, macString, keyHex, offloadsHex, arrayOf, nullable, closed };
var CLASS_JSON = CLASSES.map((c) => c.json(kit));
var JSON_KEYS = CLASS_JSON.flatMap((j) => Object.keys(j.props).map((key) => ({ key, at: NET_STATE_FIELDS.indexOf(j.fields[key]) }))).sort((a, b) => a.at - b.at).map((k) => k.key);
var inDocumentOrder = (o) => Object.fromEntries(JSON_KEYS.map((k) => [k, o[k]]));
var StateJsonCodec = closed(inDocumentOrder(Object.assign({}, ...CLASS_JSON.map((j) => j.props))), "NetDeviceState");
function pathOf(context) {
  let p = "";
  for (const entry of context.slice(1)) {
    if (/^\d+$/.test(entry.key)) p += `[${entry.key}]`;
    else p += p === "" ? entry.key : `.${entry.key}`;
  }
  return p;
}
function describeError(e) {
  const expected = e.context[e.context.length - 1]?.type.name ?? "a value";
  if (e.value === void 0) return `missing (expected ${expected})`;
  return e.message ?? `expected ${expected}, got ${showValue(e.value)}`;
}
function semanticIssues(s) {
  const doc = s;
  return CLASS_JSON.flatMap((j) => j.check?.(doc, doc) ?? []);
}
function decodeStateJson(u) {
  const r = StateJsonCodec.decode(u);
  if (E23.isLeft(r)) {
    return E23.left(stateJsonError(r.left.map((e) => ({ path: pathOf(e.context), message: describeError(e) }))));
  }
  const s = r.right;
  const issues = semanticIssues(s);
  if (issues.length > 0) return E23.left(stateJsonError(issues));
  const state = {};
  for (const j of CLASS_JSON) Object.assign(state, j.toState(s));
  return E23.right(Object.fromEntries(NET_STATE_FIELDS.map((f) => [f, state[f]])));
}
function encodeStateJson(state) {
  return inDocumentOrder(Object.assign({}, ...CLASS_JSON.map((j) => j.fromState(state))));
}

// src/state/plan.ts
var toCvqCommand = (c) => ({ name: c.name, class: c.class, cmd: c.command, payload: toHex(c.payload) });
function planCommands(state, negotiated2) {
  const out = [];
  if (!hasFeature(negotiated2, "CTRL_VQ")) return out;
  const ctx = { has: (f) => hasFeature(negotiated2, f), negotiated: negotiated2 };
  for (const c of CLASSES) c.plan(state, ctx, out);
  return out;
}
function planRestore(state, negotiated2) {
  return planCommands(state, negotiated2).map((cmd2) => ({
    class: commandClass(cmd2),
    command: commandCode(cmd2),
    name: cmd2.kind,
    payload: encodePayload(cmd2),
    cmd: cmd2
  }));
}

// src/state/record-plan.ts
function recordCommands(record) {
  const state = decodeStateJson(record.device);
  if (E24.isLeft(state)) return E24.left({ message: `the record's device state: ${state.left.message}` });
  return E24.right(planRestore(state.right, BigInt(record.features.negotiated)).map(toCvqCommand));
}

// machines/migration.ts
var svqView = (s) => s.matches("passthrough") ? "passthrough" : s.matches("shadow") ? "shadow" : s.matches("failed") ? "failed" : "switching";
var deviceView = (s) => s.matches("reset") ? "reset" : s.matches({ active: { featuresOk: "accepted" } }) ? "accepted" : s.matches({ active: { driverOk: "running" } }) ? "running" : s.matches({ active: { driverOk: "suspended" } }) ? "suspended" : s.matches("failed") ? "failed" : s.matches("starting") || s.matches("active") ? "starting" : "other";
var cancelled = (reason) => `cancelled${reason ? `: ${reason}` : ""}`;
var migrationMachine = setup({
  types: {
    context: {},
    events: {},
    input: {}
  },
  actors: {
    // the machines a migration is made of
    deviceLifecycle: deviceLifecycleMachine,
    svqSwitch: svqSwitchMachine,
    cvqCommand: cvqCommandMachine,
    // source
    /** Attach the dirty log to guest RAM; says whether the data queues are already shadowed (x-svq=on). */
    startDirtyLog: placeholder("startDirtyLog"),
    /** Read and clear the dirty log, send those pages; report what was dirtied meanwhile. */
    syncDirtyLog: placeholder("syncDirtyLog"),
    /** SVQ stop on the suspended device: forward what it used, keep the rest in flight for the destination. */
    drainInFlight: placeholder("drainInFlight"),
    /** Save the device state, features, vring bases and dirty summary as a record. */
    saveRecord: placeholder("saveRecord"),
    /** Detach the dirty log (the first step of every source rollback). */
    stopDirtyLog: placeholder("stopDirtyLog"),
    /** After a failed switch (svq-switch `failed`): hand every shadow queue back to its guest ring. */
    recoverSvq: placeholder("recoverSvq"),
    // destination
    /** Decode and validate the incoming record (io-ts + the device state codec). */
    loadRecord: placeholder("loadRecord"),
    /** Shadow CVQ in its own ASID, guest RAM mapped, data rings at the recorded bases (left disabled). */
    prepareDevice: placeholder("prepareDevice"),
    /** Enable the data queues (after DRIVER_OK and the CVQ restore), kick each once. */
    enableDataQueues: placeholder("enableDataQueues"),
    /** Compare the device (and the acked commands' model) with the record through the negotiated features. */
    verifyAgainstRecord: placeholder("verifyAgainstRecord"),
    /** Wait until device work a cancelled step left running has stopped. */
    quiesceDestination: placeholder("quiesceDestination"),
    /** After the reset: drop the shadow CVQ and the guest RAM mapping. */
    teardownDestination: placeholder("teardownDestination")
  },
  guards: {
    converged: ({ context }, params) => params.dirtyPages <= context.dirtyThresholdPages,
    roundLimitReached: ({ context }) => context.round + 1 >= context.maxRounds,
    recordValid: (_, params) => E25.isRight(decodeMigrationRecord(params.record)),
    alreadyShadowed: (_, params) => params.shadowed,
    cvqRestored: (_, params) => params.ok,
    matchesRecord: (_, params) => params.equal,
    // children, by their snapshots
    svqIs: (_, params) => svqView(params.snapshot) === params.view,
    /** An enable that rolled back to passthrough (its error says why). */
    svqEnableFailed: (_, params) => params.snapshot.matches("passthrough") && params.snapshot.context.error !== null,
    deviceIs: (_, params) => deviceView(params.snapshot) === params.view,
    /** ATTACH found no running device (back in reset, with the reason). */
    attachRefused: (_, params) => params.snapshot.matches("reset") && params.snapshot.context.error !== null,
    /** A SUSPEND the device refused: back to running, with the reason. */
    suspendRefused: (_, params) => params.snapshot.matches({ active: { driverOk: "running" } }) && params.snapshot.context.error !== null,
    /** Negotiation ended at FEATURES_OK with exactly the record's features. */
    featuresMatchRecord: ({ context }, params) => deviceView(params.snapshot) === "accepted" && context.record !== null && BigInt(params.snapshot.context.negotiated) === BigInt(context.record.features.negotiated),
    /** The svq-switch child is back in passthrough; the device suspended (or not). */
    svqOffDeviceSuspended: ({ context }, params) => svqView(params.snapshot) === "passthrough" && context.device === "suspended",
    svqOffDeviceRunning: ({ context }, params) => svqView(params.snapshot) === "passthrough" && context.device !== "suspended",
    /** What the rollback has to undo, from what the children show. */
    svqOnByUs: ({ context }) => context.svq === "shadow" && context.svqEnabledByUs,
    svqSwitching: ({ context }) => context.svq === "switching",
    svqFailed: ({ context }) => context.svq === "failed",
    deviceSuspended: ({ context }) => context.device === "suspended"
  },
  actions: {
    recordError: assign({ error: ({ self: self2 }, params) => failureIn(self2, params.error) }),
    /** A child's error (in its own words), named after the phase it failed in. */
    childError: assign({ error: ({ self: self2 }, params) => failureIn(self2, `${params.what}: ${params.error ?? "failed"}`) }),
    trackSvq: assign({ svq: (_, params) => svqView(params.snapshot) }),
    trackDevice: assign({ device: (_, params) => deviceView(params.snapshot) }),
    countRound: assign(({ context }, params) => ({
      round: context.round + 1,
      dirtyPages: params.dirtyPages,
      pagesSent: context.pagesSent + params.pagesSent
    })),
    attach: sendTo("device", ({ context }) => ({ type: "ATTACH", offered: context.source.offered, negotiated: context.source.negotiated })),
    enableSvq: sendTo("svq", { type: "ENABLE", trigger: "migration" }),
    disableSvq: sendTo("svq", { type: "DISABLE", trigger: "precopy-failed" }),
    suspend: sendTo("device", { type: "SUSPEND" }),
    resume: sendTo("device", { type: "RESUME" }),
    negotiate: sendTo("device", ({ context }) => ({ type: "START", wanted: context.record?.features.negotiated ?? "0x0" })),
    driverOk: sendTo("device", { type: "DRIVER_OK" }),
    resetDevice: sendTo("device", { type: "RESET" }),
    flushCvq: sendTo("cvq", { type: "FLUSH" })
  }
}).createMachine({
  id: "migration",
  context: ({ input }) => ({
    role: "none",
    dirtyThresholdPages: input.dirtyThresholdPages,
    maxRounds: input.maxRounds,
    source: input.source ?? { offered: "0x0", negotiated: "0x0", queues: [] },
    strategy: input.strategy ?? "parallel",
    ackTimeoutMs: input.ackTimeoutMs ?? 1e3,
    round: 0,
    dirtyPages: null,
    pagesSent: 0,
    svqEnabledByUs: false,
    svq: "passthrough",
    device: "reset",
    record: null,
    incoming: null,
    cvq: null,
    error: null
  }),
  initial: "idle",
  states: {
    idle: {
      on: {
        MIGRATE: { target: "source", actions: assign({ role: "source" }) },
        INCOMING: { target: "destination", actions: assign({ role: "destination", incoming: ({ event }) => event.record }) }
      }
    },
    source: {
      // the children's progress is tracked wherever the source is; phases waiting for one react first
      invoke: [
        { id: "device", src: "deviceLifecycle", input: ({ context }) => ({ wanted: context.source.negotiated }), onSnapshot: { actions: { type: "trackDevice", params: ({ event }) => event } } },
        { id: "svq", src: "svqSwitch", input: ({ context }) => ({ queues: context.source.queues }), onSnapshot: { actions: { type: "trackSvq", params: ({ event }) => event } } }
      ],
      initial: "attaching",
      states: {
        /** device-lifecycle takes over the running device (its status must show DRIVER_OK). */
        attaching: {
          entry: "attach",
          on: {
            // nothing is switched or suspended yet: a cancelled attach leaves the source as it was
            CANCEL: { target: "cancelled", actions: assign({ error: ({ event }) => cancelled(event.reason) }) },
            "xstate.snapshot.device": [
              { guard: { type: "deviceIs", params: ({ event }) => ({ ...event, view: "running" }) }, target: "active", actions: { type: "trackDevice", params: ({ event }) => event } },
              {
                guard: { type: "attachRefused", params: ({ event }) => event },
                target: "cancelled",
                actions: [
                  { type: "trackDevice", params: ({ event }) => event },
                  { type: "childError", params: ({ event }) => ({ what: "device", error: event.snapshot.context.error }) }
                ]
              },
              { actions: { type: "trackDevice", params: ({ event }) => event } }
            ]
          }
        },
        active: {
          initial: "setup",
          entry: assign({ round: 0, dirtyPages: null, pagesSent: 0, record: null, error: null }),
          on: { CANCEL: { target: "rollingBack", actions: assign({ error: ({ event }) => cancelled(event.reason) }) } },
          states: {
            setup: {
              initial: "startingLog",
              states: {
                startingLog: {
                  invoke: {
                    src: "startDirtyLog",
                    onDone: [
                      // x-svq=on: the queues are shadowed already, and stay so after the migration
                      { guard: { type: "alreadyShadowed", params: ({ event }) => event.output }, target: "#migration.source.active.precopy" },
                      { target: "switchingSvq" }
                    ],
                    onError: failTo("#migration.source.rollingBack")
                  }
                },
                /** machines/svq-switch: passthrough → shadow (log_global_start). */
                switchingSvq: {
                  entry: "enableSvq",
                  on: {
                    "xstate.snapshot.svq": [
                      {
                        guard: { type: "svqIs", params: ({ event }) => ({ ...event, view: "shadow" }) },
                        target: "#migration.source.active.precopy",
                        actions: [{ type: "trackSvq", params: ({ event }) => event }, assign({ svqEnabledByUs: true })]
                      },
                      {
                        guard: { type: "svqEnableFailed", params: ({ event }) => event },
                        target: "#migration.source.rollingBack",
                        actions: [
                          { type: "trackSvq", params: ({ event }) => event },
                          { type: "childError", params: ({ event }) => ({ what: "switching the data queues to SVQ", error: event.snapshot.context.error }) }
                        ]
                      },
                      {
                        guard: { type: "svqIs", params: ({ event }) => ({ ...event, view: "failed" }) },
                        target: "#migration.source.rollingBack",
                        actions: [
                          { type: "trackSvq", params: ({ event }) => event },
                          { type: "childError", params: ({ event }) => ({ what: "switching the data queues to SVQ", error: event.snapshot.context.error }) }
                        ]
                      },
                      { actions: { type: "trackSvq", params: ({ event }) => event } }
                    ]
                  }
                }
              }
            },
            precopy: {
              initial: "round",
              states: {
                round: {
                  invoke: {
                    src: "syncDirtyLog",
                    input: ({ context }) => ({ round: context.round }),
                    onDone: [
                      {
                        guard: { type: "converged", params: ({ event }) => event.output },
                        target: "#migration.source.active.stopAndCopy",
                        actions: { type: "countRound", params: ({ event }) => event.output }
                      },
                      {
                        guard: "roundLimitReached",
                        target: "#migration.source.active.stopAndCopy",
                        actions: { type: "countRound", params: ({ event }) => event.output }
                      },
                      { target: "round", reenter: true, actions: { type: "countRound", params: ({ event }) => event.output } }
                    ],
                    onError: failTo("#migration.source.rollingBack")
                  }
                }
              }
            },
            stopAndCopy: {
              initial: "suspending",
              states: {
                /** device-lifecycle SUSPEND (vm_stop + VHOST_VDPA_SUSPEND). */
                suspending: {
                  entry: "suspend",
                  on: {
                    "xstate.snapshot.device": [
                      { guard: { type: "deviceIs", params: ({ event }) => ({ ...event, view: "suspended" }) }, target: "draining", actions: { type: "trackDevice", params: ({ event }) => event } },
                      {
                        guard: { type: "suspendRefused", params: ({ event }) => event },
                        target: "#migration.source.rollingBack",
                        actions: [
                          { type: "trackDevice", params: ({ event }) => event },
                          { type: "childError", params: ({ event }) => ({ what: "VHOST_VDPA_SUSPEND", error: event.snapshot.context.error }) }
                        ]
                      },
                      {
                        guard: { type: "deviceIs", params: ({ event }) => ({ ...event, view: "failed" }) },
                        target: "#migration.source.rollingBack",
                        actions: [
                          { type: "trackDevice", params: ({ event }) => event },
                          { type: "childError", params: ({ event }) => ({ what: "device", error: event.snapshot.context.error }) }
                        ]
                      },
                      { actions: { type: "trackDevice", params: ({ event }) => event } }
                    ]
                  }
                },
                draining: {
                  invoke: {
                    src: "drainInFlight",
                    onDone: { target: "saving" },
                    onError: failTo("#migration.source.rollingBack")
                  }
                },
                saving: {
                  invoke: {
                    src: "saveRecord",
                    input: ({ context }) => ({ rounds: context.round, pagesSent: context.pagesSent, remaining: context.dirtyPages ?? 0 }),
                    onDone: [
                      {
                        guard: { type: "recordValid", params: ({ event }) => event.output },
                        target: "#migration.source.completed",
                        actions: assign({ record: ({ event }) => E25.getOrElseW(() => null)(decodeMigrationRecord(event.output.record)) })
                      },
                      {
                        target: "#migration.source.rollingBack",
                        actions: assign({
                          error: ({ self: self2, event }) => failureIn(self2, E25.fold((e) => e.message, () => "")(decodeMigrationRecord(event.output.record)))
                        })
                      }
                    ],
                    onError: failTo("#migration.source.rollingBack")
                  }
                }
              }
            }
          }
        },
        /** Undo, in order: the dirty log, SVQ (if this migration switched it on), the suspend. */
        rollingBack: {
          initial: "stoppingLog",
          states: {
            stoppingLog: {
              invoke: {
                src: "stopDirtyLog",
                onDone: [
                  { guard: "svqSwitching", target: "awaitingSvq" },
                  { guard: "svqFailed", target: "recoveringSvq" },
                  { guard: "svqOnByUs", target: "switchingSvqOff" },
                  { guard: "deviceSuspended", target: "resuming" },
                  { target: "#migration.source.cancelled" }
                ],
                onError: { target: "#migration.failed", actions: assign({ error: ({ context, event }) => `${context.error ?? "migration failed"}; rollback failed: ${errorText(event.error)}` }) }
              }
            },
            /** A switch the CANCEL overtook: let it finish, then undo it. */
            awaitingSvq: {
              on: {
                "xstate.snapshot.svq": [
                  { guard: { type: "svqIs", params: ({ event }) => ({ ...event, view: "shadow" }) }, target: "switchingSvqOff", actions: [{ type: "trackSvq", params: ({ event }) => event }, assign({ svqEnabledByUs: true })] },
                  { guard: { type: "svqIs", params: ({ event }) => ({ ...event, view: "failed" }) }, target: "recoveringSvq", actions: { type: "trackSvq", params: ({ event }) => event } },
                  { guard: { type: "svqOffDeviceSuspended", params: ({ event }) => event }, target: "resuming", actions: { type: "trackSvq", params: ({ event }) => event } },
                  { guard: { type: "svqOffDeviceRunning", params: ({ event }) => event }, target: "#migration.source.cancelled", actions: { type: "trackSvq", params: ({ event }) => event } },
                  { actions: { type: "trackSvq", params: ({ event }) => event } }
                ]
              }
            },
            /** machines/svq-switch: shadow → passthrough, in-flight chains handed back while suspended. */
            switchingSvqOff: {
              entry: "disableSvq",
              on: {
                "xstate.snapshot.svq": [
                  {
                    guard: { type: "svqOffDeviceSuspended", params: ({ event }) => event },
                    target: "resuming",
                    actions: [{ type: "trackSvq", params: ({ event }) => event }, assign({ svqEnabledByUs: false })]
                  },
                  {
                    guard: { type: "svqOffDeviceRunning", params: ({ event }) => event },
                    target: "#migration.source.cancelled",
                    actions: [{ type: "trackSvq", params: ({ event }) => event }, assign({ svqEnabledByUs: false })]
                  },
                  // a disable that rolled back to shadow, or failed: take the queues back by hand
                  { guard: { type: "svqIs", params: ({ event }) => ({ ...event, view: "shadow" }) }, target: "recoveringSvq", actions: { type: "trackSvq", params: ({ event }) => event } },
                  { guard: { type: "svqIs", params: ({ event }) => ({ ...event, view: "failed" }) }, target: "recoveringSvq", actions: { type: "trackSvq", params: ({ event }) => event } },
                  { actions: { type: "trackSvq", params: ({ event }) => event } }
                ]
              }
            },
            recoveringSvq: {
              invoke: {
                src: "recoverSvq",
                onDone: [
                  { guard: "deviceSuspended", target: "resuming", actions: assign({ svqEnabledByUs: false }) },
                  { target: "#migration.source.cancelled", actions: assign({ svqEnabledByUs: false }) }
                ],
                onError: { target: "#migration.failed", actions: assign({ error: ({ context, event }) => `${context.error ?? "migration failed"}; rollback failed: ${errorText(event.error)}` }) }
              }
            },
            /** device-lifecycle RESUME. */
            resuming: {
              entry: "resume",
              on: {
                "xstate.snapshot.device": [
                  { guard: { type: "deviceIs", params: ({ event }) => ({ ...event, view: "running" }) }, target: "#migration.source.cancelled", actions: { type: "trackDevice", params: ({ event }) => event } },
                  {
                    guard: { type: "deviceIs", params: ({ event }) => ({ ...event, view: "failed" }) },
                    target: "#migration.failed",
                    actions: [
                      { type: "trackDevice", params: ({ event }) => event },
                      assign({ error: ({ context, event }) => `${context.error ?? "migration failed"}; rollback failed: VHOST_VDPA_RESUME: ${event.snapshot.context.error ?? "failed"}` })
                    ]
                  },
                  { actions: { type: "trackDevice", params: ({ event }) => event } }
                ]
              }
            }
          }
        },
        /** Rolled back: the source runs as before and may try again. */
        cancelled: {
          on: { MIGRATE: { target: "active" } }
        },
        /** The record is out; the VM stops here unless the destination fails (ROLLBACK resumes it). */
        completed: {
          on: { ROLLBACK: { target: "rollingBack", actions: assign({ error: ({ event }) => `destination failed${event.reason ? `: ${event.reason}` : ""}` }) } }
        }
      }
    },
    destination: {
      invoke: { id: "device", src: "deviceLifecycle", input: () => ({ wanted: "0x0" }), onSnapshot: { actions: { type: "trackDevice", params: ({ event }) => event } } },
      initial: "active",
      states: {
        active: {
          initial: "loading",
          on: { CANCEL: { target: "rollingBack", actions: assign({ error: ({ event }) => cancelled(event.reason) }) } },
          states: {
            loading: {
              invoke: {
                src: "loadRecord",
                input: ({ context }) => ({ record: context.incoming }),
                onDone: { target: "negotiating", actions: assign({ record: ({ event }) => event.output.record }) },
                // nothing touched the device yet: refuse the record, no rollback needed
                onError: failTo("#migration.destination.rejected")
              }
            },
            /** device-lifecycle START: reset, §3.1.1 up to FEATURES_OK with the record's features. */
            negotiating: {
              entry: "negotiate",
              on: {
                "xstate.snapshot.device": [
                  {
                    guard: { type: "featuresMatchRecord", params: ({ event }) => event },
                    target: "preparing",
                    actions: { type: "trackDevice", params: ({ event }) => event }
                  },
                  {
                    guard: { type: "deviceIs", params: ({ event }) => ({ ...event, view: "accepted" }) },
                    target: "#migration.destination.rollingBack",
                    actions: [
                      { type: "trackDevice", params: ({ event }) => event },
                      assign({
                        error: ({ self: self2, context, event }) => failureIn(self2, `negotiated ${event.snapshot.context.negotiated} but the record has ${context.record?.features.negotiated ?? "?"}`)
                      })
                    ]
                  },
                  {
                    guard: { type: "deviceIs", params: ({ event }) => ({ ...event, view: "failed" }) },
                    target: "#migration.destination.rollingBack",
                    actions: [
                      { type: "trackDevice", params: ({ event }) => event },
                      { type: "childError", params: ({ event }) => ({ what: "device", error: event.snapshot.context.error }) }
                    ]
                  },
                  { actions: { type: "trackDevice", params: ({ event }) => event } }
                ]
              }
            },
            preparing: {
              invoke: {
                src: "prepareDevice",
                input: ({ context }) => ({ record: context.record }),
                onDone: { target: "startingDriver" },
                onError: failTo("#migration.destination.rollingBack")
              }
            },
            /** device-lifecycle DRIVER_OK (the CVQ runs from here; the data queues stay disabled). */
            startingDriver: {
              entry: "driverOk",
              on: {
                "xstate.snapshot.device": [
                  { guard: { type: "deviceIs", params: ({ event }) => ({ ...event, view: "running" }) }, target: "restoringCvq", actions: { type: "trackDevice", params: ({ event }) => event } },
                  {
                    guard: { type: "deviceIs", params: ({ event }) => ({ ...event, view: "failed" }) },
                    target: "#migration.destination.rollingBack",
                    actions: [
                      { type: "trackDevice", params: ({ event }) => event },
                      { type: "childError", params: ({ event }) => ({ what: "device", error: event.snapshot.context.error }) }
                    ]
                  },
                  { actions: { type: "trackDevice", params: ({ event }) => event } }
                ]
              }
            },
            /** machines/cvq-command with the record's restore plan (vhost_vdpa_net_cvq_load). */
            restoringCvq: {
              entry: "flushCvq",
              invoke: {
                id: "cvq",
                src: "cvqCommand",
                input: ({ context }) => ({
                  strategy: context.strategy,
                  ackTimeoutMs: context.ackTimeoutMs,
                  commands: context.record === null ? [] : E25.getOrElseW(() => [])(recordCommands(context.record))
                }),
                onDone: [
                  {
                    guard: { type: "cvqRestored", params: ({ event }) => event.output },
                    target: "enablingQueues",
                    actions: assign({ cvq: ({ event }) => ({ applied: event.output.applied, roundTrips: event.output.roundTrips }) })
                  },
                  {
                    target: "#migration.destination.rollingBack",
                    actions: assign({
                      cvq: ({ event }) => ({ applied: event.output.applied, roundTrips: event.output.roundTrips }),
                      error: ({ self: self2, event }) => failureIn(self2, event.output.failure?.message ?? "CVQ restore failed")
                    })
                  }
                ],
                onError: failTo("#migration.destination.rollingBack")
              }
            },
            enablingQueues: {
              invoke: {
                src: "enableDataQueues",
                input: ({ context }) => ({ record: context.record }),
                onDone: { target: "verifying" },
                onError: failTo("#migration.destination.rollingBack")
              }
            },
            verifying: {
              invoke: {
                src: "verifyAgainstRecord",
                input: ({ context }) => ({ record: context.record, applied: context.cvq?.applied ?? 0 }),
                onDone: [
                  { guard: { type: "matchesRecord", params: ({ event }) => event.output }, target: "#migration.destination.running" },
                  {
                    target: "#migration.destination.rollingBack",
                    actions: assign({ error: ({ self: self2, event }) => failureIn(self2, `restored state differs from the record: ${event.output.differences.join("; ")}`) })
                  }
                ],
                onError: failTo("#migration.destination.rollingBack")
              }
            }
          }
        },
        /** Stop what a cancelled step left running, reset the device, drop what the restore set up. */
        rollingBack: {
          initial: "quiescing",
          states: {
            quiescing: {
              invoke: {
                src: "quiesceDestination",
                onDone: { target: "resetting" },
                onError: { target: "resetting" }
              }
            },
            /** device-lifecycle RESET (§2.4: write 0, wait until it reads back 0). */
            resetting: {
              entry: "resetDevice",
              on: {
                "xstate.snapshot.device": [
                  { guard: { type: "deviceIs", params: ({ event }) => ({ ...event, view: "reset" }) }, target: "tearingDown", actions: { type: "trackDevice", params: ({ event }) => event } },
                  {
                    guard: { type: "deviceIs", params: ({ event }) => ({ ...event, view: "failed" }) },
                    target: "#migration.failed",
                    actions: [
                      { type: "trackDevice", params: ({ event }) => event },
                      assign({ error: ({ context, event }) => `${context.error ?? "migration failed"}; rollback failed: reset: ${event.snapshot.context.error ?? "failed"}` })
                    ]
                  },
                  { actions: { type: "trackDevice", params: ({ event }) => event } }
                ]
              }
            },
            tearingDown: {
              invoke: {
                src: "teardownDestination",
                onDone: { target: "#migration.destination.aborted" },
                onError: { target: "#migration.failed", actions: assign({ error: ({ context, event }) => `${context.error ?? "migration failed"}; rollback failed: ${errorText(event.error)}` }) }
              }
            }
          }
        },
        /** The record was refused before the device was touched. */
        rejected: {},
        /** Rolled back: the device is reset, the source keeps the VM. */
        aborted: {},
        running: { type: "final" }
      }
    },
    /** A rollback failed: an operator must step in. */
    failed: {}
  }
});

// src/mbt/scripts.ts
var hex = (v) => `0x${v.toString(16)}`;
var inState = (s, v) => s.matches(v);
var SCRIPT_OFFER = 0x308830028n | maskOf(["CTRL_RX", "CTRL_VLAN", "MQ", "CTRL_RX_EXTRA"]);
var SCRIPT_WANTED = maskOf(["VERSION_1", "ACCESS_PLATFORM", "CTRL_VQ", "CTRL_MAC_ADDR", "MAC", "CTRL_RX", "CTRL_VLAN", "STATUS", "MTU"]);
function lifecycleInvariants(s) {
  const c = s.context;
  const bad = [];
  if (!statusConsistent(c.status)) bad.push(`inconsistent status ${formatStatus(c.status)}`);
  if (inState(s, "reset") && c.status !== 0) bad.push(`reset with status ${formatStatus(c.status)}`);
  if (inState(s, { active: "driverOk" }) && !inState(s, { active: { driverOk: "write" } }) && (c.status & VIRTIO_CONFIG_S.DRIVER_OK) === 0) {
    bad.push("driverOk without DRIVER_OK");
  }
  if (inState(s, { active: "featuresOk" }) || inState(s, { active: "driverOk" })) {
    const v = validateAccepted(BigInt(c.offered), BigInt(c.negotiated));
    if (E26.isLeft(v)) bad.push(`negotiated set invalid: ${v.left.message}`);
    if ((BigInt(c.negotiated) & ~BigInt(c.wanted)) !== 0n) bad.push("negotiated a feature the driver did not want");
  }
  if (inState(s, "needsReset") && (c.status & VIRTIO_CONFIG_S.NEEDS_RESET) === 0) bad.push("needsReset without NEEDS_RESET");
  if (inState(s, { failed: "givenUp" }) && c.error === null) bad.push("failed without a reason");
  return bad;
}
var lifecycleScript = scriptedHarness({
  machine: deviceLifecycleMachine,
  input: () => ({ wanted: hex(SCRIPT_WANTED), resetTimeoutMs: 100 }),
  output(edge, view, actorInput) {
    const c = view.snapshot.context;
    switch (edge.trigger) {
      case "resetDevice":
        return { status: 0 };
      case "writeStatus":
        return { status: actorInput.status };
      case "writeFeatures":
        return { features: actorInput.features };
      case "readFeatures":
        return { features: hex(edge.guard === "negotiable" ? SCRIPT_OFFER : SCRIPT_OFFER & ~F.VERSION_1) };
      case "readStatus":
        return { status: edge.guard === "featuresAccepted" ? c.status : c.status & ~VIRTIO_CONFIG_S.FEATURES_OK };
      default:
        return void 0;
    }
  },
  invariants: (view) => lifecycleInvariants(view.snapshot)
});
var ENABLE_STEPS = ["suspended", "bases-read", "mapped", "pointed"];
var DISABLE_STEPS = ["suspended", "drained", "written-back", "unmapped", "pointed"];
var isPrefix = (p, of) => p.length <= of.length && p.every((x, i) => of[i] === x);
function svqInvariants(s) {
  const c = s.context;
  const bad = [];
  if (inState(s, "passthrough") && (c.mode !== "passthrough" || c.progress.length)) bad.push(`passthrough with mode ${c.mode}, progress [${c.progress}]`);
  if (inState(s, "shadow") && (c.mode !== "shadow" || c.progress.length)) bad.push(`shadow with mode ${c.mode}, progress [${c.progress}]`);
  if (inState(s, "enabling") && (c.mode !== "passthrough" || !isPrefix(c.progress, ENABLE_STEPS))) bad.push(`enabling with progress [${c.progress}]`);
  if (inState(s, "disabling") && (c.mode !== "shadow" || !isPrefix(c.progress, DISABLE_STEPS))) bad.push(`disabling with progress [${c.progress}]`);
  if ((inState(s, { enabling: "rollingBack" }) || inState(s, { disabling: "rollingBack" }) || inState(s, "failed")) && c.error === null) {
    bad.push("rolling back without an error");
  }
  if (inState(s, "shadow") && c.bases.length !== c.queues.length) bad.push(`shadow mode without a base per queue (${c.bases.length}/${c.queues.length})`);
  return bad;
}
var svqScript = scriptedHarness({
  machine: svqSwitchMachine,
  input: () => ({ queues: [0, 1, 2] }),
  event: (edge) => edge.trigger === "ENABLE" ? { type: "ENABLE", trigger: "migration" } : edge.trigger === "DISABLE" ? { type: "DISABLE", trigger: "precopy-failed" } : { type: edge.trigger },
  output(edge, _view, actorInput) {
    const queues = actorInput?.queues ?? [];
    if (edge.trigger === "readVringBases") return { bases: queues.map((q) => 256 + q) };
    if (edge.trigger === "drainShadow") return { handedBack: 2, bases: queues.map((q) => 320 + q) };
    return void 0;
  },
  invariants: (view) => svqInvariants(view.snapshot)
});
var vlanAdd = (vid) => ({ name: `VLAN_ADD vid=${vid}`, class: 2, cmd: 0, payload: (vid & 255).toString(16).padStart(2, "0") + (vid >> 8).toString(16).padStart(2, "0") });
var cmd = vlanAdd;
var ENQUEUE_BATCH = 3;
var nextAckWantsMore = (path, from) => {
  for (let i = from + 1; i < path.steps.length; i++) {
    const e = path.steps[i].edge;
    if (e.trigger === "awaitAcks") return e.kind === "done" && e.guard === "hasPending";
    if (e.trigger === "writeBatch") return false;
  }
  return false;
};
function cvqInitialCommands(path) {
  for (const { edge } of path.steps) {
    if (edge.type === "ENQUEUE") return 0;
    if (edge.trigger === "FLUSH") return edge.guard === "hasPending" ? ENQUEUE_BATCH : 0;
  }
  return 0;
}
function cvqInfeasible(path) {
  let commands = cvqInitialCommands(path);
  let cursor = 0;
  for (let i = 0; i < path.steps.length; i++) {
    const e = path.steps[i].edge;
    if (e.type === "ENQUEUE") commands += ENQUEUE_BATCH;
    else if (e.trigger === "FLUSH" && e.guard === "hasPending" !== commands > cursor) return "FLUSH guard contradicts the queue";
    else if (e.type === "done:writeBatch") cursor += nextAckWantsMore(path, i) ? 1 : commands - cursor;
    else if (e.trigger === "awaitAcks" && e.kind === "done" && e.guard === "hasPending" && cursor >= commands) return "no command left for another batch";
  }
  return void 0;
}
function cvqInvariants(s) {
  const c = s.context;
  const bad = [];
  if (c.applied > c.cursor - c.inFlight) bad.push(`applied ${c.applied} commands beyond the acked ones (cursor ${c.cursor}, in flight ${c.inFlight})`);
  if (c.cursor > c.commands.length) bad.push("cursor past the queue");
  const failedState = ["ackErr", "wrongLength", "timedOut", "deviceError"].some((v) => inState(s, v));
  if (failedState !== (c.failure !== null)) bad.push(`failure ${JSON.stringify(c.failure)} in ${JSON.stringify(s.value)}`);
  if (c.failure !== null) {
    if (c.commands[c.failure.index]?.name !== c.failure.command) bad.push(`failure names ${c.failure.command}, not command #${c.failure.index}`);
    if (!c.failure.message.includes(c.failure.command)) bad.push("failure message does not name the command");
    if (c.applied > c.failure.index) bad.push("a command at or after the failing one was applied");
  }
  if (inState(s, "done") && c.applied !== c.commands.length) bad.push(`done with ${c.applied}/${c.commands.length} applied`);
  return bad;
}
var cvqScript = scriptedHarness({
  machine: cvqCommandMachine,
  input: (path) => ({ strategy: "parallel", commands: Array.from({ length: cvqInitialCommands(path) }, (_, i) => cmd(i + 1)), ackTimeoutMs: 25 }),
  event: (edge, view) => {
    if (edge.trigger !== "ENQUEUE") return { type: edge.trigger };
    const n = view.snapshot.context.commands.length;
    return { type: "ENQUEUE", commands: Array.from({ length: ENQUEUE_BATCH }, (_, i) => cmd(n + i + 1)) };
  },
  output(edge, view, actorInput) {
    if (edge.trigger === "writeBatch") {
      const { commands, first } = actorInput;
      const pending = commands.length - first;
      return { written: nextAckWantsMore(view.path, view.index) ? Math.min(1, pending) : pending };
    }
    if (edge.trigger === "awaitAcks") {
      const { count } = actorInput;
      const acks = Array.from({ length: count }, () => ({ len: 1, ack: VIRTIO_NET_OK }));
      if (edge.guard === "wroteWrongLength") acks[count - 1] = { len: 2, ack: VIRTIO_NET_OK };
      if (edge.guard === "ackedErr") acks[count - 1] = { len: 1, ack: VIRTIO_NET_ERR };
      return { acks };
    }
    return void 0;
  },
  error: (edge) => edge.guard === "ackTimedOut" ? { _tag: "CvqError", kind: "timeout", errno: "ETIMEDOUT", message: "ETIMEDOUT: 1 of 1 command(s) unanswered after 25 ms" } : new Error(`injected fault in ${edge.trigger}`),
  invariants: (view) => cvqInvariants(view.snapshot),
  infeasible: cvqInfeasible
});
var THRESHOLD = 8;
var SCRIPT_RECORD = E26.getOrElseW((e) => {
  throw new Error(e.message);
})(
  makeMigrationRecord({
    device: { mac: "52:54:00:12:34:56" },
    offered: SCRIPT_OFFER,
    negotiated: SCRIPT_OFFER & SCRIPT_WANTED,
    backend: 0x17en,
    vrings: [
      { index: 0, base: 17 },
      { index: 1, base: 23 },
      { index: 2, base: 4 }
    ],
    dirty: { pageSize: 4096, rounds: 2, pagesSent: 300, remaining: 3 }
  })
);
function migrationMaxRounds(path) {
  const sessions = [];
  let cur;
  for (const { edge } of path.steps) {
    if (edge.type === "MIGRATE") sessions.push(cur = { k: 0, limit: false });
    else if (edge.trigger === "syncDirtyLog" && edge.kind === "done" && cur) {
      if (edge.guard === "roundLimitReached") cur.limit = true;
      else if (edge.guard === null) cur.k++;
    }
  }
  const limits = [...new Set(sessions.filter((s) => s.limit).map((s) => s.k))];
  if (limits.length > 1) return "sessions hit the round limit after different round counts";
  if (limits.length === 0) return Math.max(0, ...sessions.map((s) => s.k)) + 2;
  const max = limits[0] + 1;
  return sessions.every((s) => s.limit || s.k < max) ? max : "a session ran more unconverged rounds than the limit allows";
}
function migrationInvariants(s) {
  const c = s.context;
  const bad = [];
  if (inState(s, "source") && c.role !== "source") bad.push(`source with role ${c.role}`);
  if (inState(s, "destination") && c.role !== "destination") bad.push(`destination with role ${c.role}`);
  if (c.round > c.maxRounds) bad.push(`round ${c.round} beyond the limit ${c.maxRounds}`);
  if (inState(s, { source: "completed" }) && (c.record === null || E26.isLeft(decodeMigrationRecord(c.record)))) bad.push("completed without a valid record");
  if (inState(s, { source: "cancelled" }) && c.svqEnabledByUs) bad.push("rolled back with SVQ still switched on by us");
  if (inState(s, { destination: "running" }) && c.record === null) bad.push("running without a record");
  if ((inState(s, { source: "cancelled" }) || inState(s, { destination: "aborted" }) || inState(s, "failed")) && c.error === null) {
    bad.push("rolled back without a reason");
  }
  const json = JSON.stringify(s.context);
  if (JSON.stringify(JSON.parse(json)) !== json) bad.push("context is not JSON round-trippable");
  return bad;
}
var migrationScript = scriptedHarness({
  machine: migrationMachine,
  input: (path) => {
    const r = migrationMaxRounds(path);
    return { dirtyThresholdPages: THRESHOLD, maxRounds: typeof r === "number" ? r : 1 };
  },
  infeasible: (path) => {
    const r = migrationMaxRounds(path);
    return typeof r === "string" ? r : void 0;
  },
  event: (edge) => edge.trigger === "INCOMING" ? { type: "INCOMING", record: SCRIPT_RECORD } : edge.trigger === "CANCEL" ? { type: "CANCEL", reason: "operator" } : { type: edge.trigger },
  output(edge, view) {
    const c = view.snapshot.context;
    const ok2 = edge.guard !== null;
    switch (edge.trigger) {
      case "enableSvq":
        return { switched: true };
      case "syncDirtyLog":
        return { pagesSent: 64, dirtyPages: edge.guard === "converged" ? THRESHOLD - 1 : THRESHOLD * 4 };
      case "drainInFlight":
        return { inFlight: 0 };
      case "saveRecord":
        return { record: ok2 ? SCRIPT_RECORD : { ...SCRIPT_RECORD, version: 99 } };
      case "loadRecord":
        return { record: SCRIPT_RECORD };
      case "resetAndNegotiate":
        return { negotiated: ok2 ? c.record.features.negotiated : hex(F.VERSION_1) };
      case "restoreCvq":
        return ok2 ? { ok: true, applied: 3, roundTrips: 1, failure: null } : { ok: false, applied: 1, roundTrips: 1, failure: { kind: "ack-err", errno: "EIO", index: 1, command: "MQ_VQ_PAIRS_SET", message: "EIO: device acked MQ_VQ_PAIRS_SET with VIRTIO_NET_ERR (1)" } };
      case "verifyAgainstRecord":
        return ok2 ? { equal: true, differences: [] } : { equal: false, differences: ["mac 52:54:00:12:34:56 \u2260 00:00:00:00:00:00"] };
      default:
        return void 0;
    }
  },
  invariants: (view) => migrationInvariants(view.snapshot)
});

// src/cvq/engine.ts
var E28 = __toESM(require_Either(), 1);

// src/cvq/shadow.ts
var E27 = __toESM(require_Either(), 1);
var import_function2 = __toESM(require_function(), 1);
var pageUp = (n) => Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
var CVQ_CHAIN_DESCS = 2;
var DESC_SIZE2 = 16;
var setupError = (message, cause) => ({ _tag: "ShadowCvqSetupError", message, ...cause === void 0 ? {} : { cause } });
var dev = (what, r) => E27.mapLeft((e) => setupError(`${what}: ${e.message}`, e))(r);
var uapi = (r) => E27.mapLeft((e) => setupError(`${e.op}: ${e.message}`, e))(r);
function createShadowCvq(device, opts) {
  const layout = hasFeature(opts.negotiated, "RING_PACKED") ? "packed" : "split";
  const maxNum = dev("VHOST_VDPA_GET_VRING_NUM", device.getVringNum());
  if (E27.isLeft(maxNum)) return maxNum;
  const size = opts.size ?? Math.min(256, maxNum.right);
  if (size > maxNum.right) return E27.left(setupError(`ring size ${size} exceeds the device's ${maxNum.right}`));
  const range = dev("VHOST_VDPA_GET_IOVA_RANGE", device.getIovaRange());
  if (E27.isLeft(range)) return range;
  const indirect = hasFeature(opts.negotiated, "INDIRECT_DESC");
  const ring = placeRing(layout, size, 0, { deviceAlign: PAGE_SIZE });
  const ringEnd = pageUp(ring.end);
  const indOff = ringEnd;
  const indBytes = indirect ? pageUp(size * CVQ_CHAIN_DESCS * DESC_SIZE2) : 0;
  const outOff = indOff + indBytes;
  const outBytes = pageUp(Math.max(opts.outBytes ?? PAGE_SIZE, opts.minCommandBytes ?? 0, 1));
  const inOff = outOff + outBytes;
  const inBytes = pageUp(size);
  const total = inOff + inBytes;
  const iova = opts.iova ?? Math.max(PAGE_SIZE, pageUp(range.right.first));
  if (iova % PAGE_SIZE !== 0) return E27.left(setupError(`IOVA 0x${iova.toString(16)} is not page-aligned`));
  if (iova < range.right.first || iova + total - 1 > range.right.last) {
    return E27.left(setupError(`IOVA [0x${iova.toString(16)}, +${total}) is outside the device's range [0x${range.right.first.toString(16)}, 0x${range.right.last.toString(16)}]`));
  }
  const region = dev("mmap", device.allocHost(total, `shadow-cvq${opts.qi}`));
  if (E27.isLeft(region)) return region;
  const r = region.right;
  const asid = opts.asid ?? 0;
  const maps = [
    // split: descriptors + avail ring are only read by the device; the used ring is written.
    // packed: the device writes used descriptors back into the descriptor ring (§2.8.6): all RW.
    ...layout === "split" ? [[0, ring.addrs.device, VHOST_ACCESS_RO], [ring.addrs.device, ringEnd - ring.addrs.device, VHOST_ACCESS_RW]] : [[0, ringEnd, VHOST_ACCESS_RW]],
    ...indirect ? [[indOff, indBytes, VHOST_ACCESS_RO]] : [],
    [outOff, outBytes, VHOST_ACCESS_RO],
    [inOff, inBytes, VHOST_ACCESS_RW]
  ];
  for (const [off, len, perm] of maps) {
    const u = dev("VHOST_IOTLB_UPDATE", device.iotlbUpdate(asid, iova + off, len, r.base + off, perm));
    if (E27.isLeft(u)) {
      device.iotlbInvalidate(asid, iova, off);
      device.freeHost(r);
      return u;
    }
  }
  const space = new AddressSpace(`iova:cvq${opts.qi}`);
  const alias = space.addRegion(iova, r.buffer, { offset: r.offset, size: total, name: `shadow-cvq${opts.qi}` });
  if (E27.isLeft(alias)) return E27.left(setupError(alias.left.message));
  const addrs = { desc: iova + ring.addrs.desc, driver: iova + ring.addrs.driver, device: iova + ring.addrs.device };
  const driver = ringFactory(layout).driver(
    space,
    { layout, size, addrs, eventIdx: hasFeature(opts.negotiated, "EVENT_IDX"), indirect },
    indirect ? { indirectArea: { addr: iova + indOff, size: indBytes } } : void 0
  );
  if (isRingError(driver)) return E27.left(setupError(`shadow CVQ ring: ${driver.message}`));
  return E27.right({
    qi: opts.qi,
    asid,
    layout,
    size,
    indirect,
    driver,
    addrs,
    out: r.bytes.subarray(outOff, outOff + outBytes),
    outIova: iova + outOff,
    in: r.bytes.subarray(inOff, inOff + inBytes),
    inIova: iova + inOff,
    region: r,
    iova
  });
}
function programShadowCvq(device, cvq) {
  const steps = [
    () => device.setVringNum(cvq.qi, cvq.size),
    () => device.setVringAddr(cvq.qi, cvq.addrs),
    () => device.setVringBase(cvq.qi, encodeBase(cvq.layout, cvq.driver.base())),
    () => device.setVringEnable(cvq.qi, true)
  ];
  for (const s of steps) {
    const r = s();
    if (E27.isLeft(r)) return r;
  }
  return E27.right(void 0);
}
function destroyShadowCvq(device, cvq) {
  const inv = device.iotlbInvalidate(cvq.asid, cvq.iova, cvq.region.size);
  const free = device.freeHost(cvq.region);
  return E27.isLeft(inv) ? inv : E27.isLeft(free) ? free : E27.right(void 0);
}
function cvqIndexOf(device, negotiated2) {
  if (!hasFeature(negotiated2, "MQ")) return E27.right(2);
  return E27.map((c) => 2 * (c[0] | c[1] << 8))(device.getConfig(NET_CONFIG.maxVirtqueuePairs, 2));
}
function startShadowCvq(device, negotiated2, opts = {}) {
  const S = VIRTIO_CONFIG_S;
  return (0, import_function2.pipe)(
    prepareShadowCvq(device, negotiated2, opts),
    E27.chainFirst(() => uapi(device.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK)))
  );
}
function prepareShadowCvq(device, negotiated2, opts = {}) {
  const S = VIRTIO_CONFIG_S;
  const asid = opts.asid ?? 1;
  return (0, import_function2.pipe)(
    uapi(device.getBackendFeatures()),
    E27.chain((backend) => uapi(device.setBackendFeatures(backend))),
    E27.chain(() => uapi(device.setStatus(S.ACKNOWLEDGE | S.DRIVER))),
    E27.chain(() => uapi(device.setFeatures(negotiated2))),
    E27.chain(() => uapi(device.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK))),
    E27.chain(() => uapi(cvqIndexOf(device, negotiated2))),
    E27.chain(
      (qi) => (0, import_function2.pipe)(
        uapi(device.getVringGroup(qi)),
        E27.chain((group) => uapi(device.setGroupAsid(group, asid))),
        E27.chain(() => createShadowCvq(device, { ...opts, qi, negotiated: negotiated2, asid }))
      )
    ),
    E27.chainFirst((cvq) => uapi(programShadowCvq(device, cvq)))
  );
}

// src/cvq/engine.ts
var NO_ANSWER = -1;
var OVERSIZED = -2;
var nameOf = (c) => c.cmd !== void 0 ? describeCommand(c.cmd) : c.name ?? kindOf(c.class, c.command) ?? `class ${c.class} command ${c.command}`;
var ERRNO2 = {
  nack: "EIO",
  "wrong-length": "EIO",
  timeout: "ETIMEDOUT",
  ring: "EIO",
  device: "EIO",
  "not-negotiated": "EOPNOTSUPP",
  "too-large": "ENOSPC",
  "no-indirect": "EOPNOTSUPP",
  busy: "EBUSY",
  broken: "EIO"
};
var cvqError = (kind, message, at, cause) => ({
  _tag: "CvqError",
  kind,
  errno: ERRNO2[kind],
  ...at === void 0 ? {} : at,
  message: `${ERRNO2[kind]}: ${message}`,
  ...cause === void 0 ? {} : { cause }
});
var CvqEngine = class {
  constructor(device, cvq) {
    this.device = device;
    this.cvq = cvq;
    this.ackLen = new Int32Array(cvq.size);
    this.slotOfHead = new Int32Array(cvq.size).fill(-1);
    this.ackByte = new Uint8Array(cvq.size);
  }
  device;
  cvq;
  chain = new Chain(CVQ_CHAIN_DESCS);
  used = new Used();
  /**
   * Per in-flight slot (the token; its ack byte is in[slot]): used len (NO_ANSWER until used,
   * OVERSIZED when the device claimed more than the ack byte) and the ack byte; the slot of each head.
   */
  ackLen;
  slotOfHead;
  ackByte;
  batch = 0;
  pending = 0;
  brokenBy;
  stats = { kicks: 0, flushes: 0, waits: 0, commands: 0, elapsedMs: 0 };
  /** Set after a timeout or a ring error: the ring's state is unknown until the device is reset. */
  get broken() {
    return this.brokenBy;
  }
  /** Commands of the last batch. */
  get batchSize() {
    return this.batch;
  }
  /**
   * Write as many of `cmds` as `strategy` and the free descriptors / buffer room allow (serial: one),
   * then kick if the device wants it. `first` is the index of cmds[0] in the caller's list (for
   * messages). Returns the number written (≥ 1 when cmds is not empty).
   */
  writeBatch(cmds, strategy, first = 0) {
    if (this.brokenBy !== void 0) return E28.left(cvqError("broken", `shadow CVQ unusable since: ${this.brokenBy.message}`));
    if (this.pending !== 0) return E28.left(cvqError("busy", `${this.pending} command(s) of the previous batch still in flight`));
    const cvq = this.cvq;
    const indirect = strategy === "parallel-indirect";
    if (indirect && !cvq.indirect) return E28.left(cvqError("no-indirect", "parallel-indirect needs VIRTIO_F_INDIRECT_DESC negotiated"));
    const driver = cvq.driver;
    const need = indirect ? 1 : CVQ_CHAIN_DESCS;
    const max = strategy === "serial" ? 1 : cvq.size;
    const out = cvq.out;
    const inb = cvq.in;
    const chain4 = this.chain;
    let outOff = 0;
    let n = 0;
    while (n < cmds.length && n < max) {
      const c = cmds[n];
      const len = CTRL_HDR_LEN + c.payload.length;
      if (len > out.length) {
        if (n === 0) return E28.left(cvqError("too-large", `${nameOf(c)} is ${len} bytes, the out buffer ${out.length}`, { index: first, command: nameOf(c) }));
        break;
      }
      if (driver.numFree() < need || outOff + len > out.length || n >= inb.length) break;
      out[outOff] = c.class;
      out[outOff + 1] = c.command;
      out.set(c.payload, outOff + CTRL_HDR_LEN);
      inb[n] = VIRTIO_NET_ERR;
      chain4.reset();
      chain4.push(cvq.outIova + outOff, len, false);
      chain4.push(cvq.inIova + n, CTRL_ACK_LEN, true);
      const head = driver.add(chain4, n, indirect);
      if (isRingError(head)) {
        if (n === 0) return E28.left(cvqError("ring", `adding ${nameOf(c)}: ${head.message}`, { index: first, command: nameOf(c) }, head));
        break;
      }
      this.slotOfHead[head] = n;
      this.ackLen[n] = NO_ANSWER;
      outOff += len;
      n++;
    }
    this.batch = n;
    this.pending = n;
    if (n > 0 && driver.kickNeeded()) {
      const k = this.device.kick(cvq.qi);
      if (E28.isLeft(k)) return E28.left(this.breakWith(cvqError("device", `kick: ${k.left.message}`, { index: first, command: nameOf(cmds[0]) }, k.left)));
      this.stats.kicks++;
    }
    this.stats.commands += n;
    return E28.right(n);
  }
  /** Reap every used element available now. */
  drain() {
    const driver = this.cvq.driver;
    const u = this.used;
    const inb = this.cvq.in;
    for (; ; ) {
      const r = driver.reap(u);
      if (r === false) return void 0;
      if (r !== true) return r;
      const slot = u.token;
      this.ackLen[slot] = u.len;
      this.ackByte[slot] = inb[slot];
      this.pending--;
    }
  }
  /**
   * Wait until every command of the batch is used, at most `timeoutMs` in all. Right: the batch is
   * complete (acks via `ackOf`); Left: a timeout, a ring error or a device error (the CVQ is then broken).
   */
  async awaitAcks(timeoutMs) {
    const deadline = performance.now() + timeoutMs;
    const qi = this.cvq.qi;
    for (; ; ) {
      const bad = this.drain();
      if (bad !== void 0) return E28.left(this.breakWith(this.ringFault(bad)));
      if (this.pending === 0) break;
      const left21 = deadline - performance.now();
      const w = left21 > 0 ? await this.device.waitCall(qi, left21) : E28.right(false);
      this.stats.waits++;
      if (E28.isLeft(w)) return E28.left(this.breakWith(cvqError("device", `waiting for the CVQ call: ${w.left.message}`, void 0, w.left)));
      if (!w.right) {
        const late = this.drain();
        if (late === void 0 && this.pending === 0) break;
        return E28.left(this.breakWith(cvqError("timeout", `${this.pending} of ${this.batch} command(s) unanswered after ${timeoutMs} ms`)));
      }
    }
    this.stats.flushes++;
    return E28.right(this.batch);
  }
  /** The answer for slot `i` of the last batch. */
  ackOf(i) {
    return { len: this.ackLen[i], ack: this.ackByte[i] };
  }
  /** The last batch's answers in command order (for the cvq-command machine's `awaitAcks`). */
  acks() {
    return Array.from({ length: this.batch }, (_, i) => this.ackOf(i));
  }
  /** A ring rule the device broke; an oversized used len is the wrong-length failure of its command. */
  ringFault(bad) {
    if (bad.rule === "used-len-too-large" && bad.index !== void 0 && bad.index < this.slotOfHead.length) {
      const slot = this.slotOfHead[bad.index];
      if (slot >= 0) {
        this.ackLen[slot] = OVERSIZED;
        return cvqError("wrong-length", `device used more than the ack byte: ${bad.message}`, void 0, bad);
      }
    }
    return cvqError("ring", `device broke the ring: ${bad.message}`, void 0, bad);
  }
  breakWith(e) {
    this.brokenBy ??= e;
    return e;
  }
  /**
   * Send `cmds` in order with `strategy`: write a batch, flush, check every ack, repeat. Stops at the
   * first batch with a bad ack (later commands are not sent). Right: all acked OK.
   */
  async run(cmds, opts) {
    const t0 = performance.now();
    const strategy = opts.strategy;
    const timeoutMs = opts.timeoutMs ?? 1e3;
    const outcomes = new Array(cmds.length).fill("not-sent");
    const acked = [];
    const report = () => {
      let okPrefix = 0;
      while (okPrefix < outcomes.length && outcomes[okPrefix] === "ok") okPrefix++;
      this.stats.elapsedMs += performance.now() - t0;
      return { strategy, outcomes, acked, okPrefix, stats: { ...this.stats } };
    };
    const fail4 = (e) => E28.left({ ...e, report: report() });
    if (opts.negotiated !== void 0) {
      for (let i = 0; i < cmds.length; i++) {
        const kind = kindOf(cmds[i].class, cmds[i].command);
        if (kind !== void 0 && !commandAllowed(kind, opts.negotiated)) {
          return fail4(cvqError("not-negotiated", `${nameOf(cmds[i])} is not allowed by the negotiated features`, { index: i, command: nameOf(cmds[i]) }));
        }
      }
    }
    let cursor = 0;
    while (cursor < cmds.length) {
      const rest = cursor === 0 ? cmds : cmds.slice(cursor);
      const w = this.writeBatch(rest, strategy, cursor);
      if (E28.isLeft(w)) return fail4(w.left);
      const n = w.right;
      const a = await this.awaitAcks(timeoutMs);
      if (E28.isLeft(a)) {
        const missing = a.left.kind === "timeout" ? "timeout" : "unanswered";
        let at = -1;
        for (let i = 0; i < n; i++) {
          const o = this.ackLen[i] === NO_ANSWER ? missing : this.judge(i);
          outcomes[cursor + i] = o;
          if (o === "ok") acked.push(cursor + i);
          else if (at < 0 && (o === a.left.kind || o === "timeout" && a.left.kind === "timeout")) at = cursor + i;
        }
        if (at < 0) at = cursor;
        return fail4({ ...a.left, index: at, command: nameOf(cmds[at]) });
      }
      let bad = -1;
      for (let i = 0; i < n; i++) {
        const o = this.judge(i);
        outcomes[cursor + i] = o;
        if (o === "ok") acked.push(cursor + i);
        else if (bad < 0) bad = i;
      }
      if (bad >= 0) {
        const index = cursor + bad;
        const command = nameOf(cmds[index]);
        const { len, ack } = this.ackOf(bad);
        return fail4(
          outcomes[index] === "nack" ? cvqError("nack", `device acked ${command} with ${ack === VIRTIO_NET_ERR ? "VIRTIO_NET_ERR" : `0x${ack.toString(16)}`}`, { index, command }) : cvqError("wrong-length", `device wrote ${len} byte(s) for the ack of ${command}, expected ${CTRL_ACK_LEN}`, { index, command })
        );
      }
      cursor += n;
    }
    return E28.right(report());
  }
  judge(i) {
    const len = this.ackLen[i];
    if (len === NO_ANSWER) return "unanswered";
    if (len !== CTRL_ACK_LEN) return "wrong-length";
    return this.ackByte[i] === VIRTIO_NET_OK ? "ok" : "nack";
  }
};

// src/effects/cvq.ts
var E29 = __toESM(require_Either(), 1);
var toCvqCommand2 = (c) => ({ name: c.name, class: c.class, cmd: c.command, payload: toHex(c.payload) });
function cvqCommandEffects(engine) {
  const wire = /* @__PURE__ */ new WeakMap();
  const toWire = (c, index) => {
    let w = wire.get(c);
    if (w === void 0) {
      const payload = fromHex(c.payload);
      if (payload === void 0) throw { _tag: "CvqCommandFormatError", index, message: `command #${index} (${c.name}): payload is not hex` };
      w = { class: c.class, command: c.cmd, payload, name: c.name };
      wire.set(c, w);
    }
    return w;
  };
  return {
    cvqPort: {
      // synchronous: the ring write and the kick answer before the machine's step ends
      writeBatch({ strategy, commands, first }) {
        const n = Math.min(commands.length - first, engine.cvq.size);
        const outs = new Array(n);
        for (let i = 0; i < n; i++) outs[i] = toWire(commands[first + i], first + i);
        const w = engine.writeBatch(outs, strategy, first);
        if (E29.isLeft(w)) throw w.left;
        return { written: w.right };
      },
      async awaitAcks({ timeoutMs }) {
        const r = await engine.awaitAcks(timeoutMs);
        if (E29.isLeft(r)) throw r.left;
        return { acks: engine.acks() };
      }
    }
  };
}
async function runCvqCommands(engine, commands, opts) {
  const actor = createActor(bind(cvqCommandMachine, cvqCommandEffects(engine)), {
    input: { strategy: opts.strategy, commands, ackTimeoutMs: opts.ackTimeoutMs },
    ...opts.inspect === void 0 ? {} : { inspect: opts.inspect }
  });
  const done = toPromise(actor);
  actor.start();
  actor.send({ type: "FLUSH" });
  return done;
}

// src/effects/datapath.ts
var E30 = __toESM(require_Either(), 1);
var GUEST_RAM_GPA = 1048576;
var pageUp2 = (n) => Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
function createDataPath(dev2, opts) {
  const asid = opts.asid ?? 0;
  const layout = hasFeature(opts.negotiated, "RING_PACKED") ? "packed" : "split";
  const eventIdx = hasFeature(opts.negotiated, "EVENT_IDX");
  const ram = dev2.allocHost(opts.ramBytes ?? 1 << 20, "guest-ram");
  if (E30.isLeft(ram)) return ram;
  const gpa = new AddressSpace("gpa");
  const added = gpa.addRegion(GUEST_RAM_GPA, ram.right.buffer, { offset: ram.right.offset, size: ram.right.size, name: "guest-ram" });
  if (E30.isLeft(added)) return E30.left(deviceError("invalid", "guest-ram", added.left.message));
  const map6 = dev2.iotlbUpdate(asid, GUEST_RAM_GPA, ram.right.size, ram.right.base, VHOST_ACCESS_RW);
  if (E30.isLeft(map6)) return map6;
  const queues = [];
  let at = GUEST_RAM_GPA;
  for (const qi of opts.queues) {
    const placed = placeRing(layout, opts.size, at);
    const config = { layout, size: opts.size, addrs: placed.addrs, eventIdx, indirect: false };
    at = pageUp2(placed.end);
    const driver = ringFactory(layout).driver(gpa, config);
    if (isRingError(driver)) return E30.left(deviceError("invalid", "guest ring", driver.message));
    const steps = [
      () => dev2.setVringNum(qi, opts.size),
      () => dev2.setVringAddr(qi, config.addrs),
      () => dev2.setVringBase(qi, encodeBase(layout, driver.base())),
      ...opts.enable === false ? [] : [() => dev2.setVringEnable(qi, true)]
    ];
    for (const s of steps) {
      const r = s();
      if (E30.isLeft(r)) return r;
    }
    queues.push({ qi, config, driver });
  }
  return E30.right({ dev: dev2, asid, ram: ram.right, gpa, queues, layout, bufBase: at, bufEnd: GUEST_RAM_GPA + ram.right.size });
}
var NET_HDR_LEN = 12;
var RX_BUF = 2048;
var GuestNic = class {
  constructor(path, notify) {
    this.path = path;
    this.notify = notify;
    this.next = path.bufBase;
  }
  path;
  notify;
  next;
  chain = new Chain(4);
  used = new Used();
  posted = 0;
  reaped = 0;
  rxBytes = 0;
  /** Guest buffer memory, handed out round-robin (the ledger never has more in flight than fits). */
  alloc(len) {
    const size = Math.ceil(len / 64) * 64;
    if (this.next + size > this.path.bufEnd) this.next = this.path.bufBase;
    const a = this.next;
    this.next += size;
    return a;
  }
  queue(qi) {
    return this.path.queues.find((q) => q.qi === qi);
  }
  /** Post `n` receive buffers on `qi`. */
  postRx(qi, n) {
    const q = this.queue(qi);
    for (let i = 0; i < n; i++) {
      this.chain.reset();
      this.chain.push(this.alloc(RX_BUF), RX_BUF, true);
      const r = q.driver.add(this.chain, 0);
      if (isRingError(r)) return E30.left(deviceError("invalid", "guest rx", r.message));
      this.posted++;
    }
    return this.notify(qi);
  }
  /** Send `n` frames of `len` bytes (after the header) on `qi`. */
  sendTx(qi, n, len = 60) {
    const q = this.queue(qi);
    for (let i = 0; i < n; i++) {
      const addr = this.alloc(NET_HDR_LEN + len);
      const frame = new Uint8Array(NET_HDR_LEN + len);
      frame.fill(255, NET_HDR_LEN, NET_HDR_LEN + 6);
      frame[NET_HDR_LEN + 12] = 8;
      frame[NET_HDR_LEN + 14] = i & 255;
      const w = this.path.gpa.write(addr, frame);
      if (E30.isLeft(w)) return E30.left(deviceError("invalid", "guest tx", w.left.message));
      this.chain.reset();
      this.chain.push(addr, NET_HDR_LEN + len, false);
      const r = q.driver.add(this.chain, 1);
      if (isRingError(r)) return E30.left(deviceError("invalid", "guest tx", r.message));
      this.posted++;
    }
    return this.notify(qi);
  }
  /** Reap every used chain of every queue; the count reaped now. */
  reap() {
    let n = 0;
    for (const q of this.path.queues) {
      for (; ; ) {
        const r = q.driver.reap(this.used);
        if (r === false) break;
        if (r !== true) return E30.left(deviceError("invalid", `guest reap q${q.qi}`, r.message));
        if (this.used.token === 0) this.rxBytes += this.used.len;
        n++;
      }
    }
    this.reaped += n;
    return E30.right(n);
  }
  /** Chains made available and not reaped (on the guest rings, in SVQ, or in the device). */
  inFlight() {
    return this.path.queues.reduce((n, q) => n + q.driver.inFlight(), 0);
  }
};

// src/effects/svq.ts
var E31 = __toESM(require_Either(), 1);

// src/svq/iova-tree.ts
var iovaTreeError = (kind, addr, len, what) => ({
  _tag: "IovaTreeError",
  kind,
  addr,
  len,
  message: `iova tree: ${what ?? kind} at 0x${addr.toString(16)} (+${len})`
});
var isIovaTreeError = (x) => typeof x === "object" && x !== null && x._tag === "IovaTreeError";
var hex2 = (n) => `0x${n.toString(16)}`;
var RangeMap = class {
  constructor(byIova) {
    this.byIova = byIova;
  }
  byIova;
  list = [];
  last;
  keyOf(m) {
    return this.byIova ? m.iova : m.translatedAddr;
  }
  /** Index of the last entry whose start ≤ addr, or -1. */
  floor(addr) {
    const list = this.list;
    let lo = 0;
    let hi = list.length - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = lo + hi >>> 1;
      if (this.keyOf(list[mid]) <= addr) {
        ans = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return ans;
  }
  /** The entry containing `addr`, or undefined. Allocation-free. */
  find(addr) {
    const l = this.last;
    if (l !== void 0) {
      const k = this.keyOf(l);
      if (addr >= k && addr <= k + l.size) return l;
    }
    const i = this.floor(addr);
    if (i < 0) return void 0;
    const m = this.list[i];
    if (addr <= this.keyOf(m) + m.size) {
      this.last = m;
      return m;
    }
    return void 0;
  }
  /** The first entry intersecting [start, last] (inclusive), or undefined. */
  overlapping(start, lastAddr) {
    const i = this.floor(lastAddr);
    if (i < 0) return void 0;
    const m = this.list[i];
    return this.keyOf(m) + m.size >= start ? m : void 0;
  }
  insert(m) {
    const i = this.floor(this.keyOf(m));
    this.list.splice(i + 1, 0, m);
  }
  remove(m) {
    const i = this.list.indexOf(m);
    if (i < 0) return false;
    this.list.splice(i, 1);
    if (this.last === m) this.last = void 0;
    return true;
  }
};
var IovaTree = class {
  /** First and last usable IOVA, inclusive, after excluding page 0 and clamping to 2^53. */
  first;
  last;
  iovaMap = new RangeMap(true);
  hvaMap = new RangeMap(false);
  gpaMap = new RangeMap(false);
  constructor(range) {
    this.first = Math.max(range.first, PAGE_SIZE);
    this.last = Math.min(range.last, MAX_SAFE_ADDR);
  }
  mapOf(kind) {
    return kind === "hva" ? this.hvaMap : this.gpaMap;
  }
  validate(req) {
    const { translatedAddr: a, size, perm } = req;
    if (!Number.isSafeInteger(a) || !Number.isSafeInteger(size) || a < 0 || size < 0 || a + size > MAX_SAFE_ADDR) {
      return iovaTreeError("invalid", a, size + 1, "address or size overflows");
    }
    if ((perm & (VHOST_ACCESS_RO | VHOST_ACCESS_WO)) === 0 || (perm & ~(VHOST_ACCESS_RO | VHOST_ACCESS_WO)) !== 0) {
      return iovaTreeError("invalid", a, size + 1, `bad permission ${perm}`);
    }
    return void 0;
  }
  /**
   * Allocate an IOVA range for `req` (first fit) and record the mapping (QEMU
   * `vhost_iova_tree_map_alloc` / `_map_alloc_gpa`). The caller then sends the IOTLB update.
   */
  mapAlloc(kind, req) {
    const bad = this.validate(req);
    if (bad !== void 0) return bad;
    const tm = this.mapOf(kind);
    const clash = tm.overlapping(req.translatedAddr, req.translatedAddr + req.size);
    if (clash !== void 0) {
      return iovaTreeError("overlap", req.translatedAddr, req.size + 1, `${kind} range already mapped at iova ${hex2(clash.iova)}`);
    }
    const pageOff = req.translatedAddr % PAGE_SIZE;
    let holeStart = this.first;
    const list = this.iovaMap.list;
    for (let i = 0; i <= list.length; i++) {
      const candidate = alignUp2(holeStart, pageOff);
      const holeEnd = i < list.length ? list[i].iova - 1 : this.last;
      if (candidate + req.size <= holeEnd && candidate + req.size <= this.last) {
        const m = { iova: candidate, translatedAddr: req.translatedAddr, size: req.size, perm: req.perm, kind };
        this.iovaMap.insert(m);
        tm.insert(m);
        return m;
      }
      if (i < list.length) holeStart = Math.max(holeStart, list[i].iova + list[i].size + 1);
    }
    return iovaTreeError("no-space", req.translatedAddr, req.size + 1, `no IOVA hole of ${req.size + 1} bytes in [${hex2(this.first)}, ${hex2(this.last)}]`);
  }
  /** Record a mapping at a fixed IOVA (e.g. IOVA = GPA for pass-through data queues). */
  insert(kind, iova, req) {
    const bad = this.validate(req);
    if (bad !== void 0) return bad;
    if (!Number.isSafeInteger(iova) || iova < 0) return iovaTreeError("invalid", iova, req.size + 1, "bad iova");
    if (iova < this.first || iova + req.size > this.last) {
      return iovaTreeError("out-of-range", iova, req.size + 1, `iova outside [${hex2(this.first)}, ${hex2(this.last)}]`);
    }
    const taken = this.iovaMap.overlapping(iova, iova + req.size);
    if (taken !== void 0) return iovaTreeError("overlap", iova, req.size + 1, `iova range taken by ${hex2(taken.iova)}`);
    const tm = this.mapOf(kind);
    const clash = tm.overlapping(req.translatedAddr, req.translatedAddr + req.size);
    if (clash !== void 0) return iovaTreeError("overlap", req.translatedAddr, req.size + 1, `${kind} range already mapped`);
    const m = { iova, translatedAddr: req.translatedAddr, size: req.size, perm: req.perm, kind };
    this.iovaMap.insert(m);
    tm.insert(m);
    return m;
  }
  /** Remove the mapping starting at `iova` (QEMU `vhost_iova_tree_remove`); returns it for the IOTLB invalidate. */
  remove(iova) {
    const m = this.iovaMap.find(iova);
    if (m === void 0 || m.iova !== iova) return iovaTreeError("not-found", iova, 0, "no mapping starts");
    this.iovaMap.remove(m);
    this.mapOf(m.kind).remove(m);
    return m;
  }
  /** The mapping of `kind` containing `addr` (QEMU `vhost_iova_tree_find_iova` / `_find_gpa`). */
  lookup(kind, addr) {
    return this.mapOf(kind).find(addr);
  }
  /** The mapping containing an IOVA (the device's view), whatever it translates. */
  lookupIova(iova) {
    return this.iovaMap.find(iova);
  }
  /** All mappings in IOVA order (a copy). */
  maps() {
    return this.iovaMap.list.slice();
  }
  /**
   * Translate [addr, addr+len) of `kind` into IOVA segments written at `outAddr[at..]` / `outLen[at..]`
   * (at most `cap` segments in total, counting from index 0). Adjacent mappings contiguous in IOVA give one
   * segment. `writable` is the device's access (a device-writable buffer needs VHOST_ACCESS_WO).
   * Returns the number of segments written, or an error: nothing is ever truncated. Allocation-free.
   */
  translate(kind, addr, len, writable2, outAddr, outLen, at, cap) {
    const tm = this.mapOf(kind);
    const need = writable2 ? VHOST_ACCESS_WO : VHOST_ACCESS_RO;
    let cur = addr;
    let left21 = len;
    let n = 0;
    do {
      const m = tm.find(cur);
      if (m === void 0) return iovaTreeError("unmapped", cur, left21, `${kind} address not mapped`);
      if ((m.perm & need) === 0) return iovaTreeError("permission", cur, left21, `${kind} mapping lacks ${writable2 ? "write" : "read"} access`);
      const off = cur - m.translatedAddr;
      const room = m.size - off + 1;
      const take = left21 < room ? left21 : room;
      const iova = m.iova + off;
      const prev = at + n - 1;
      if (n > 0 && outAddr[prev] + outLen[prev] === iova && outLen[prev] + take <= 4294967295) {
        outLen[prev] = outLen[prev] + take;
      } else {
        if (at + n >= cap) return iovaTreeError("too-many-segments", addr, len, `buffer needs more than ${cap - at} segments`);
        outAddr[at + n] = iova;
        outLen[at + n] = take;
        n++;
      }
      cur += take;
      left21 -= take;
    } while (left21 > 0);
    return n;
  }
  /** Translate one address that must be followed by `len` contiguous IOVA bytes; -1 if it is not. Allocation-free. */
  translateContiguous(kind, addr, len) {
    const m = this.mapOf(kind).find(addr);
    if (m === void 0) return -1;
    const off = addr - m.translatedAddr;
    if (len > 0 && off + len - 1 > m.size) return -1;
    return m.iova + off;
  }
};
function alignUp2(x, pageOff) {
  const base = x - x % PAGE_SIZE + pageOff;
  return base >= x ? base : base + PAGE_SIZE;
}

// src/svq/shadow-virtqueue.ts
var svqError = (kind, queue, message, cause) => cause === void 0 ? { _tag: "SvqError", kind, queue, message: `${queue}: ${message}` } : { _tag: "SvqError", kind, queue, cause, message: `${queue}: ${message}: ${cause.message}` };
var isSvqError = (x) => typeof x === "object" && x !== null && x._tag === "SvqError";
var INLINE_SEGS = 8;
var SLOT_FREE = 0;
var SLOT_SHADOW = 1;
var SLOT_PENDING = 2;
var ShadowVirtqueue = class _ShadowVirtqueue {
  name;
  guestRing;
  shadowRing;
  iova;
  bufferMap;
  dirty;
  kickDevice;
  callGuest;
  shadowSize;
  shadowIndirect;
  guestLayout;
  guestSize;
  // element slots (one per guest chain that can be in flight)
  nSlots;
  slotState;
  slotId;
  slotRingDescs;
  slotCount;
  slotOut;
  slotIndirect;
  slotSeq;
  segAddr;
  segLen;
  bigAddr;
  bigLen;
  freeSlots;
  freeTop;
  /** Elements popped but not yet on the shadow ring, FIFO (the stash; several only after a resume). */
  pending;
  pendHead = 0;
  pendCount = 0;
  nextSeq = 0;
  gchain;
  schain;
  used = new Used();
  st = "running";
  err;
  counters = { forwarded: 0, returned: 0, guestKicks: 0, deviceCalls: 0, kicksSent: 0, callsSent: 0, stashes: 0, indirectForwarded: 0, usedBytes: 0 };
  constructor(opts, guestRing, shadowRing) {
    this.name = opts.name ?? "svq";
    this.guestRing = guestRing;
    this.shadowRing = shadowRing;
    this.iova = opts.iova;
    this.bufferMap = opts.bufferMap ?? "gpa";
    this.dirty = opts.dirty;
    this.kickDevice = opts.kickDevice;
    this.callGuest = opts.callGuest;
    this.shadowSize = opts.shadow.config.size;
    this.shadowIndirect = opts.shadow.config.indirect && opts.shadow.indirectArea !== void 0;
    this.guestLayout = opts.guest.config.layout;
    this.guestSize = opts.guest.config.size;
    const n = opts.guest.config.size;
    this.nSlots = n;
    this.slotState = new Uint8Array(n);
    this.slotId = new Uint32Array(n);
    this.slotRingDescs = new Uint32Array(n);
    this.slotCount = new Uint32Array(n);
    this.slotOut = new Uint32Array(n);
    this.slotIndirect = new Uint8Array(n);
    this.slotSeq = new Float64Array(n);
    this.segAddr = new Float64Array(n * INLINE_SEGS);
    this.segLen = new Uint32Array(n * INLINE_SEGS);
    this.bigAddr = new Array(n).fill(void 0);
    this.bigLen = new Array(n).fill(void 0);
    this.freeSlots = new Uint32Array(n);
    for (let i = 0; i < n; i++) this.freeSlots[i] = n - 1 - i;
    this.freeTop = n;
    this.pending = new Uint32Array(n);
    const maxChain = Math.max(1, opts.maxChain ?? n);
    this.gchain = new Chain(maxChain);
    this.schain = new Chain(Math.max(2 * maxChain, 16));
  }
  /** Build the two ring ends (and resume a hand-over) or say why not. */
  static create(opts) {
    const name = opts.name ?? "svq";
    const g = ringFactory(opts.guest.config.layout).device(opts.guest.space, opts.guest.config);
    if (isRingError(g)) return svqError("setup", name, "guest ring", g);
    const ia = opts.shadow.indirectArea;
    const s = ringFactory(opts.shadow.config.layout).driver(opts.shadow.space, opts.shadow.config, ia === void 0 ? void 0 : { indirectArea: ia });
    if (isRingError(s)) return svqError("setup", name, "shadow ring", s);
    const q = new _ShadowVirtqueue(opts, g, s);
    if (opts.resume !== void 0) {
      const r = q.load(opts.resume);
      if (r !== void 0) return r;
    }
    return q;
  }
  get state() {
    return this.st;
  }
  /** The error that failed the queue, if any. */
  get failure() {
    return this.err;
  }
  stats() {
    return { ...this.counters };
  }
  /** Guest chains SVQ holds (on the shadow ring or stashed). */
  inFlight() {
    return this.nSlots - this.freeTop;
  }
  /** Guest chains popped but not on the shadow ring (the -ENOSPC stash). */
  stashed() {
    return this.pendCount;
  }
  fail(e) {
    if (this.err === void 0) this.err = e;
    this.st = "failed";
  }
  // ─────────────────────────────── guest kick → shadow ring ───────────────────────────────
  /** The guest kicked (its kick eventfd fired): forward every available chain. */
  handleGuestKick() {
    if (this.st !== "running") return;
    this.counters.guestKicks++;
    this.forwardAvail();
  }
  /** vhost_handle_guest_kick: pop, translate, add; stash on -ENOSPC; loop on the enable-notification race. */
  forwardAvail() {
    const guest = this.guestRing;
    const gchain = this.gchain;
    for (; ; ) {
      guest.disableKicks();
      while (this.pendCount > 0) {
        const slot = this.pending[this.pendHead];
        if (!this.addToShadow(slot)) break;
        this.pendHead = this.pendHead + 1 === this.nSlots ? 0 : this.pendHead + 1;
        this.pendCount--;
      }
      if (this.pendCount === 0 && this.st === "running") {
        for (; ; ) {
          const r = guest.pop(gchain);
          if (r === false) break;
          if (r !== true) {
            this.fail(svqError("guest-ring", this.name, "pop from the guest ring", r));
            break;
          }
          if (this.freeTop === 0) {
            this.fail(svqError("guest-ring", this.name, `guest made chain ${gchain.id} available with ${this.nSlots} chains already in flight`));
            break;
          }
          const slot = this.storeElement(gchain);
          if (!this.addToShadow(slot)) {
            if (this.st === "running") this.stash(slot);
            break;
          }
        }
      }
      if (this.shadowRing.kickNeeded()) {
        this.counters.kicksSent++;
        this.kickDevice();
      }
      if (this.pendCount > 0 || this.st !== "running") return;
      if (!guest.enableKicks()) return;
    }
  }
  stash(slot) {
    this.slotState[slot] = SLOT_PENDING;
    let t5 = this.pendHead + this.pendCount;
    if (t5 >= this.nSlots) t5 -= this.nSlots;
    this.pending[t5] = slot;
    this.pendCount++;
    this.counters.stashes++;
  }
  /** Keep a popped guest chain in a free slot; returns the slot. */
  storeElement(c) {
    const slot = this.freeSlots[--this.freeTop];
    const count = c.count;
    this.slotId[slot] = c.id;
    this.slotRingDescs[slot] = c.ringDescs;
    this.slotCount[slot] = count;
    this.slotOut[slot] = c.outCount;
    this.slotIndirect[slot] = c.indirect ? 1 : 0;
    this.slotSeq[slot] = this.nextSeq++;
    if (count <= INLINE_SEGS) {
      const b = slot * INLINE_SEGS;
      for (let k = 0; k < count; k++) {
        this.segAddr[b + k] = c.addr[k];
        this.segLen[b + k] = c.len[k];
      }
    } else {
      let a = this.bigAddr[slot];
      let l = this.bigLen[slot];
      if (a === void 0 || a.length < count) {
        a = this.bigAddr[slot] = new Float64Array(c.capacity);
        l = this.bigLen[slot] = new Uint32Array(c.capacity);
      }
      a.set(c.addr.subarray(0, count));
      l.set(c.len.subarray(0, count));
    }
    this.slotState[slot] = SLOT_PENDING;
    return slot;
  }
  /**
   * Translate slot's chain to IOVAs and add it to the shadow ring. False when it does not fit now
   * (-ENOSPC) or on a failure (the queue is then failed).
   */
  addToShadow(slot) {
    const count = this.slotCount[slot];
    const outCount = this.slotOut[slot];
    const big = count > INLINE_SEGS;
    const ga = big ? this.bigAddr[slot] : this.segAddr;
    const gl = big ? this.bigLen[slot] : this.segLen;
    const b = big ? 0 : slot * INLINE_SEGS;
    const sc = this.schain;
    const sa = sc.addr;
    const sl = sc.len;
    const cap = sc.capacity;
    const iova = this.iova;
    const map6 = this.bufferMap;
    let n = 0;
    let so = 0;
    let outBytes = 0;
    let inBytes = 0;
    for (let k = 0; k < count; k++) {
      const len = gl[b + k];
      const w = k >= outCount;
      const r2 = iova.translate(map6, ga[b + k], len, w, sa, sl, n, cap);
      if (typeof r2 !== "number") {
        this.fail(svqError(r2.kind === "too-many-segments" ? "chain-too-long" : "translate", this.name, `guest chain ${this.slotId[slot]} segment ${k}`, r2));
        return false;
      }
      n += r2;
      if (w) inBytes += len;
      else {
        outBytes += len;
        so = n;
      }
    }
    sc.id = 0;
    sc.ringDescs = 0;
    sc.indirect = false;
    sc.count = n;
    sc.outCount = so;
    sc.outBytes = outBytes;
    sc.inBytes = inBytes;
    const drv = this.shadowRing;
    const useInd = this.shadowIndirect && n > 1 && (this.slotIndirect[slot] === 1 || n > drv.numFree());
    const r = drv.add(sc, slot, useInd);
    if (typeof r === "number") {
      this.slotState[slot] = SLOT_SHADOW;
      this.counters.forwarded++;
      if (useInd) this.counters.indirectForwarded++;
      return true;
    }
    if (r.rule === "no-space") {
      if (drv.inFlight() === 0) this.fail(svqError("chain-too-long", this.name, `guest chain ${this.slotId[slot]} needs ${n} descriptors, shadow ring has ${this.shadowSize}`, r));
      return false;
    }
    this.fail(svqError("setup", this.name, `add guest chain ${this.slotId[slot]} to the shadow ring`, r));
    return false;
  }
  // ─────────────────────────────── device call → guest used ring ───────────────────────────────
  /** The device called (its call eventfd fired): return used chains to the guest, then resume a stash. */
  handleDeviceCall() {
    if (this.st !== "running") return;
    this.counters.deviceCalls++;
    this.flush();
    if (this.pendCount > 0 && this.st === "running") this.forwardAvail();
  }
  /** vhost_svq_flush: reap every used entry, push to the guest, signal, re-enable and re-check. */
  flush() {
    const drv = this.shadowRing;
    const guest = this.guestRing;
    const used = this.used;
    for (; ; ) {
      drv.disableCalls();
      let bad = false;
      for (; ; ) {
        const r = drv.reap(used);
        if (r === false) break;
        if (r !== true) {
          this.fail(svqError("device-ring", this.name, "used entry from the device", r));
          bad = true;
          break;
        }
        if (!this.returnToGuest(used.token, used.len)) {
          bad = true;
          break;
        }
      }
      if (guest.callNeeded()) {
        this.counters.callsSent++;
        this.callGuest();
      }
      if (bad) return;
      if (!drv.enableCalls()) return;
    }
  }
  returnToGuest(slot, len) {
    const pr = this.guestRing.push(this.slotId[slot], this.slotRingDescs[slot], len);
    if (pr !== void 0) {
      this.fail(svqError("guest-ring", this.name, `push used id ${this.slotId[slot]}`, pr));
      return false;
    }
    const d = this.dirty;
    if (d !== void 0 && len > 0) {
      const count = this.slotCount[slot];
      const big = count > INLINE_SEGS;
      const ga = big ? this.bigAddr[slot] : this.segAddr;
      const gl = big ? this.bigLen[slot] : this.segLen;
      const b = big ? 0 : slot * INLINE_SEGS;
      let left21 = len;
      for (let k = this.slotOut[slot]; k < count && left21 > 0; k++) {
        const l = gl[b + k];
        const m = l < left21 ? l : left21;
        d.mark(ga[b + k], m);
        left21 -= m;
      }
    }
    this.counters.returned++;
    this.counters.usedBytes += len;
    this.slotState[slot] = SLOT_FREE;
    this.freeSlots[this.freeTop++] = slot;
    return true;
  }
  // ─────────────────────────────── stop and hand-over ───────────────────────────────
  /**
   * Stop the queue (the device is suspended or reset first): return every used entry the device already
   * wrote, then hand over the guest ring position and the chains still in flight. Works on a failed queue
   * too (its in-flight chains are reported). After stop the queue ignores kicks and calls.
   */
  stop() {
    if (this.st === "running") this.flush();
    this.st = this.st === "failed" ? "failed" : "stopped";
    const slots = [];
    for (let i = 0; i < this.nSlots; i++) if (this.slotState[i] !== SLOT_FREE) slots.push(i);
    slots.sort((a, b) => this.slotSeq[a] - this.slotSeq[b]);
    const inFlight = slots.map((s) => this.element(s));
    const base = this.guestRing.base();
    let tail = true;
    for (let i = 0; i < slots.length; i++) if (this.slotSeq[slots[i]] !== this.nextSeq - slots.length + i) tail = false;
    let passthroughBase;
    if (tail) {
      let idx = base.availIdx;
      let wrap = base.availWrap;
      if (this.guestLayout === "split") idx = idx - slots.length & 65535;
      else {
        for (const e of inFlight) idx -= e.ringDescs;
        if (idx < 0) {
          idx += this.guestSize;
          wrap = !wrap;
        }
      }
      passthroughBase = { ...base, availIdx: idx, availWrap: wrap };
    }
    return { guestLayout: this.guestLayout, guestSize: this.guestSize, guestBase: base, inFlight, passthroughBase };
  }
  element(slot) {
    const count = this.slotCount[slot];
    const big = count > INLINE_SEGS;
    const ga = big ? this.bigAddr[slot] : this.segAddr;
    const gl = big ? this.bigLen[slot] : this.segLen;
    const b = big ? 0 : slot * INLINE_SEGS;
    return {
      id: this.slotId[slot],
      ringDescs: this.slotRingDescs[slot],
      indirect: this.slotIndirect[slot] === 1,
      outCount: this.slotOut[slot],
      addr: Array.from(ga.subarray(b, b + count)),
      len: Array.from(gl.subarray(b, b + count))
    };
  }
  /** Take over a hand-over: guest ring position, then the in-flight chains as stashed elements. */
  load(h) {
    if (h.guestLayout !== this.guestLayout || h.guestSize !== this.guestSize) {
      return svqError("resume", this.name, `hand-over is for a ${h.guestLayout} ring of ${h.guestSize}, this guest ring is ${this.guestLayout} of ${this.guestSize}`);
    }
    if (h.inFlight.length > this.nSlots) return svqError("resume", this.name, `${h.inFlight.length} chains in flight exceed the queue size`);
    const badBase = this.guestRing.setBase(h.guestBase);
    if (badBase !== void 0) return svqError("resume", this.name, "hand-over position", badBase);
    const c = this.gchain;
    for (const e of h.inFlight) {
      if (e.addr.length !== e.len.length || e.addr.length > c.capacity || e.outCount > e.addr.length) {
        return svqError("resume", this.name, `in-flight chain ${e.id} has ${e.addr.length} segments (at most ${c.capacity})`);
      }
      c.reset();
      for (let k = 0; k < e.addr.length; k++) c.push(e.addr[k], e.len[k], k >= e.outCount);
      c.id = e.id;
      c.ringDescs = e.ringDescs;
      c.indirect = e.indirect;
      const slot = this.storeElement(c);
      let t5 = this.pendHead + this.pendCount;
      if (t5 >= this.nSlots) t5 -= this.nSlots;
      this.pending[t5] = slot;
      this.pendCount++;
    }
    return void 0;
  }
  /**
   * Start forwarding: the chains carried over by a hand-over go to the shadow ring first, then whatever
   * the guest made available while the queue was stopped (a resumed queue has missed those kicks).
   */
  start() {
    if (this.st !== "running") return;
    this.forwardAvail();
  }
};

// src/effects/svq.ts
var SvqBackend = class {
  constructor(path, opts = {}) {
    this.path = path;
    this.opts = opts;
    const range = path.dev.getIovaRange();
    this.tree = new IovaTree(E31.isRight(range) ? range.right : { first: 0, last: 2 ** 48 - 1 });
    const r = path.ram;
    const m = this.tree.insert("gpa", GUEST_RAM_GPA, { translatedAddr: GUEST_RAM_GPA, size: r.size - 1, perm: VHOST_ACCESS_RW });
    if (isIovaTreeError(m)) throw new Error(`guest RAM in the IOVA tree: ${m.message}`);
    const v = this.view.addRegion(GUEST_RAM_GPA, r.buffer, { offset: r.offset, size: r.size, name: "guest-ram" });
    if (E31.isLeft(v)) throw new Error(v.left.message);
  }
  path;
  opts;
  tree;
  /** The device's IOVA view: guest RAM at IOVA = GPA and the shadow rings at their IOVAs. */
  view = new AddressSpace("iova");
  shadows = /* @__PURE__ */ new Map();
  handovers = /* @__PURE__ */ new Map();
  /** Where the device's queues point now. */
  mode = "passthrough";
  pumping = false;
  queue(qi) {
    const q = this.path.queues.find((x) => x.qi === qi);
    if (q === void 0) throw deviceError("invalid", "svq", `queue ${qi} is not a data queue of this path`);
    return q;
  }
  /**
   * The guest notified queue `qi` (its kick): to SVQ once the device works on the shadow rings, to the
   * device otherwise — also while the shadow rings are being set up, so SVQ forwards nothing the device
   * is not pointed at yet (it picks those chains up from the guest ring when it starts).
   */
  notify(qi) {
    const s = this.shadows.get(qi);
    if (s !== void 0 && this.mode === "shadow" && s.svq.state === "running") {
      s.svq.handleGuestKick();
      return E31.right(void 0);
    }
    return this.path.dev.kick(qi);
  }
  /** Relay device calls to the shadow queues until shadow mode ends (the device's call eventfds). */
  startPump() {
    if (this.pumping) return;
    this.pumping = true;
    const dev2 = this.path.dev;
    const wait = this.opts.pumpWaitMs ?? 10;
    const loop = async () => {
      while (this.pumping && this.shadows.size > 0) {
        let called = false;
        for (const [qi, s] of this.shadows) {
          const r = await dev2.waitCall(qi, wait);
          if (!this.pumping) return;
          if (E31.isLeft(r)) {
            this.pumping = false;
            return;
          }
          if (r.right && s.svq.state === "running") {
            s.svq.handleDeviceCall();
            called = true;
          }
        }
        if (!called) await new Promise((r) => setImmediate(r));
      }
      this.pumping = false;
    };
    void loop();
  }
  stopPump() {
    this.pumping = false;
  }
  /** Disable, re-address and re-enable queue `qi` while the device is suspended. */
  point(qi, addrs, base) {
    const dev2 = this.path.dev;
    const steps = [() => dev2.setVringEnable(qi, false), () => dev2.setVringAddr(qi, addrs), () => dev2.setVringBase(qi, base), () => dev2.setVringEnable(qi, true)];
    for (const s of steps) {
      const r = s();
      if (E31.isLeft(r)) return r;
    }
    return E31.right(void 0);
  }
  /** Allocate, map and build the shadow ring of `qi`, resuming the guest ring at `base`. */
  mapOne(qi, base) {
    const dev2 = this.path.dev;
    const g = this.queue(qi);
    const layout = g.config.layout;
    const l = ringFactory(layout).layoutOf(g.config.size);
    const bytes = l.desc.size + l.driver.size + l.device.size + 3 * 4096;
    const region = dev2.allocHost(bytes, `svq-${qi}`);
    if (E31.isLeft(region)) return region;
    const undoAlloc = () => void dev2.freeHost(region.right);
    const map6 = this.tree.mapAlloc("hva", { translatedAddr: region.right.base, size: region.right.size - 1, perm: VHOST_ACCESS_RW });
    if (isIovaTreeError(map6)) {
      undoAlloc();
      return E31.left(deviceError("iotlb", "svq map", map6.message));
    }
    const undoTree = () => void this.tree.remove(map6.iova);
    const up = dev2.iotlbUpdate(this.path.asid, map6.iova, region.right.size, region.right.base, VHOST_ACCESS_RW);
    if (E31.isLeft(up)) {
      undoTree();
      undoAlloc();
      return up;
    }
    const undoIotlb = () => void dev2.iotlbInvalidate(this.path.asid, map6.iova, region.right.size);
    const v = this.view.addRegion(map6.iova, region.right.buffer, { offset: region.right.offset, size: region.right.size, name: `svq-${qi}` });
    const config = { ...g.config, addrs: placeRing(layout, g.config.size, map6.iova).addrs };
    const svq = E31.isLeft(v) ? void 0 : ShadowVirtqueue.create({
      name: `svq-${qi}`,
      guest: { space: this.path.gpa, config: g.config },
      shadow: { space: this.view, config },
      iova: this.tree,
      ...this.opts.dirty === void 0 ? {} : { dirty: this.opts.dirty },
      kickDevice: () => void dev2.kick(qi),
      callGuest: () => {
      },
      resume: { guestLayout: layout, guestSize: g.config.size, guestBase: decodeBase(layout, base), inFlight: [], passthroughBase: void 0 }
    });
    if (svq === void 0 || isSvqError(svq)) {
      if (E31.isRight(v)) this.view.removeRegion(map6.iova);
      undoIotlb();
      undoTree();
      undoAlloc();
      return E31.left(deviceError("invalid", "svq setup", svq === void 0 ? v.left.message : svq.message));
    }
    const s = { region: region.right, map: map6, config, svq };
    this.shadows.set(qi, s);
    return E31.right(s);
  }
  /** Unmap and free the shadow ring of `qi` (after the device stopped using it). */
  unmapOne(qi) {
    const s = this.shadows.get(qi);
    if (s === void 0) return E31.right(void 0);
    const dev2 = this.path.dev;
    const inv = dev2.iotlbInvalidate(this.path.asid, s.map.iova, s.region.size);
    if (E31.isLeft(inv)) return inv;
    this.tree.remove(s.map.iova);
    this.view.removeRegion(s.map.iova);
    this.shadows.delete(qi);
    return dev2.freeHost(s.region);
  }
  /**
   * What an owner does after a switch left the device in neither mode (the machine's `failed`): stop
   * relaying, hand every shadow queue back to its guest ring at the exact position, unmap and free the
   * shadow rings, resume the device.
   */
  recover() {
    this.stopPump();
    const layout = this.path.layout;
    const errs = [];
    for (const q of this.path.queues) {
      const s = this.shadows.get(q.qi);
      let base;
      if (s !== void 0) {
        const h = s.svq.state === "running" ? s.svq.stop() : this.handovers.get(q.qi) ?? s.svq.stop();
        if (h.passthroughBase !== void 0) base = encodeBase(layout, h.passthroughBase);
      } else {
        const h = this.handovers.get(q.qi);
        if (h?.passthroughBase !== void 0) base = encodeBase(layout, h.passthroughBase);
      }
      if (base === void 0) {
        const b = this.path.dev.getVringBase(q.qi);
        if (E31.isLeft(b)) errs.push(b.left.message);
        else base = b.right;
      }
      if (base !== void 0) {
        const r2 = this.point(q.qi, q.config.addrs, base);
        if (E31.isLeft(r2)) errs.push(r2.left.message);
        else void this.path.dev.kick(q.qi);
      }
      const u = this.unmapOne(q.qi);
      if (E31.isLeft(u)) errs.push(u.left.message);
    }
    this.handovers.clear();
    this.mode = "passthrough";
    const r = this.path.dev.resume();
    if (E31.isLeft(r)) errs.push(r.left.message);
    return errs.length ? E31.left(deviceError("state", "svq recover", errs.join("; "))) : E31.right(void 0);
  }
  /**
   * SVQ stop on a suspended device (QEMU vhost_svq_stop): forward what the device used, un-pop every
   * chain still in flight so the guest ring holds it again, and say where each guest ring resumes.
   * machines/svq-switch's `drainShadow` and the migration's stop-and-copy drain are this one step.
   */
  async drain(queues) {
    const dev2 = this.path.dev;
    const layout = this.path.layout;
    this.stopPump();
    let handedBack = 0;
    const bases = [];
    for (const qi of queues) {
      const s = this.shadows.get(qi);
      if (s === void 0) throw deviceError("state", "svq drain", `queue ${qi} is not shadowed`);
      const devBase = await orReject(dev2.getVringBase(qi));
      const offered = encodeBase(layout, s.svq.shadowRing.base());
      if (layout === "split" && (offered - devBase & 65535) > s.config.size) {
        throw deviceError("state", "svq drain", `queue ${qi}: the device is at shadow index ${devBase}, beyond SVQ's ${offered}`);
      }
      if (s.svq.state === "running") s.svq.handleDeviceCall();
      const h = s.svq.stop();
      this.handovers.set(qi, h);
      if (h.passthroughBase === void 0) {
        throw deviceError("state", "svq drain", `queue ${qi}: ${h.inFlight.length} in-flight chain(s) completed out of order cannot be handed back to the guest ring`);
      }
      handedBack += h.inFlight.length;
      bases.push(encodeBase(layout, h.passthroughBase));
    }
    return { handedBack, bases };
  }
  /** Guest chains the data path holds: in the guest rings' drivers (made available, not yet reaped). */
  guestInFlight() {
    return this.path.queues.reduce((n, q) => n + q.driver.inFlight(), 0);
  }
};
var deviceStartOf = (b) => ({ availIdx: b.usedIdx, availWrap: b.usedWrap, usedIdx: b.usedIdx, usedWrap: b.usedWrap });
var all = (xs, f) => {
  for (let i = 0; i < xs.length; i++) {
    const r = f(xs[i], i);
    if (E31.isLeft(r)) return E31.left(r.left);
  }
  return E31.right(void 0);
};
function svqSwitchEffects(b) {
  const dev2 = b.path.dev;
  const layout = b.path.layout;
  return {
    suspendDevice: async () => orReject(dev2.suspend()),
    resumeDevice: async () => orReject(dev2.resume()),
    async readVringBases({ queues }) {
      const bases = [];
      for (const qi of queues) bases.push(await orReject(dev2.getVringBase(qi)));
      return { bases };
    },
    async mapShadowRings({ queues, bases }) {
      const done = [];
      const r = all(queues, (qi, i) => E31.map(() => done.push(qi))(b.mapOne(qi, bases[i])));
      if (E31.isLeft(r)) {
        for (const qi of done) b.unmapOne(qi);
        throw r.left;
      }
    },
    async pointToShadow({ queues }) {
      const done = [];
      const r = all(queues, (qi) => {
        const s = b.shadows.get(qi);
        return E31.map(() => done.push(qi))(b.point(qi, s.config.addrs, encodeBase(layout, deviceStartOf(s.svq.shadowRing.base()))));
      });
      if (E31.isLeft(r)) {
        for (const qi of done) b.point(qi, b.queue(qi).config.addrs, encodeBase(layout, b.queue(qi).driver.base()));
        throw r.left;
      }
      b.mode = "shadow";
      for (const qi of queues) b.shadows.get(qi).svq.start();
      b.startPump();
    },
    drainShadow: ({ queues }) => b.drain(queues),
    async writeBackIndexes({ queues, bases }) {
      await orReject(all(queues, (qi, i) => dev2.setVringBase(qi, bases[i])));
    },
    async unmapShadowRings({ queues }) {
      await orReject(all(queues, (qi) => b.unmapOne(qi)));
    },
    async pointToGuest({ queues, bases }) {
      await orReject(all(queues, (qi, i) => b.point(qi, b.queue(qi).config.addrs, bases[i])));
      await orReject(all(queues, (qi) => dev2.kick(qi)));
      b.mode = "passthrough";
      b.handovers.clear();
    },
    async rollback({ queues, to, progress, bases }) {
      const did = new Set(progress);
      const errs = [];
      const note = (r) => E31.isLeft(r) && errs.push(r.left.message);
      if (to === "passthrough") {
        b.stopPump();
        if (did.has("pointed") || b.mode === "shadow") {
          for (let i = 0; i < queues.length; i++) note(b.point(queues[i], b.queue(queues[i]).config.addrs, bases[i]));
          for (const qi of queues) note(dev2.kick(qi));
        }
        b.mode = "passthrough";
        for (const qi of queues) if (b.shadows.has(qi)) note(b.unmapOne(qi));
      } else {
        if (did.has("unmapped")) {
          for (let i = 0; i < queues.length; i++) note(b.mapOne(queues[i], bases[i]));
        }
        const repoint = did.has("pointed") || did.has("unmapped");
        for (const qi of queues) {
          const s = b.shadows.get(qi);
          const h = b.handovers.get(qi);
          if (s === void 0) continue;
          let recreated = false;
          if (s.svq.state !== "running" && h !== void 0) {
            const fresh = ShadowVirtqueue.create({
              name: `svq-${qi}`,
              guest: { space: b.path.gpa, config: b.queue(qi).config },
              shadow: { space: b.view, config: s.config },
              iova: b.tree,
              ...b.opts.dirty === void 0 ? {} : { dirty: b.opts.dirty },
              kickDevice: () => void dev2.kick(qi),
              callGuest: () => {
              },
              resume: h
            });
            if (isSvqError(fresh)) errs.push(fresh.message);
            else {
              s.svq = fresh;
              recreated = true;
            }
          }
          if (repoint || recreated) note(b.point(qi, s.config.addrs, encodeBase(layout, deviceStartOf(s.svq.shadowRing.base()))));
        }
        b.mode = "shadow";
        b.handovers.clear();
        for (const s of b.shadows.values()) s.svq.start();
        b.startPump();
      }
      if (did.has("suspended")) note(dev2.resume());
      if (errs.length) throw deviceError("state", "svq rollback", errs.join("; "));
    }
  };
}

// src/effects/migration.ts
var E33 = __toESM(require_Either(), 1);

// src/state/view.ts
function viewThrough(state, negotiated2) {
  const reset = resetNetState(state.mac, negotiated2);
  if (!hasFeature(negotiated2, "CTRL_VQ")) return reset;
  const ctx = { has: (f) => hasFeature(negotiated2, f), negotiated: negotiated2, reset };
  const view = { ...reset };
  for (const c of CLASSES) Object.assign(view, c.view(state, ctx));
  return view;
}

// src/effects/vdpa-net.ts
var E32 = __toESM(require_Either(), 1);
var migrateError = (where, message) => ({ _tag: "MigrateError", where, message });
function cvqIndexOf2(dev2, negotiated2) {
  return E32.mapLeft((e) => migrateError("config", e.message))(cvqIndexOf(dev2, negotiated2));
}
function isolateCvq(dev2, cvq) {
  const as = dev2.getAsNum();
  const groups = dev2.getGroupNum();
  const g = dev2.getVringGroup(cvq);
  if (E32.isLeft(as) || E32.isLeft(groups) || E32.isLeft(g) || as.right < 2 || groups.right < 2 || g.right === 0) return 0;
  return E32.isRight(dev2.setGroupAsid(g.right, 1)) ? 1 : 0;
}
function setUpCvq(dev2, negotiated2) {
  const qi = cvqIndexOf2(dev2, negotiated2);
  if (E32.isLeft(qi)) return qi;
  const asid = isolateCvq(dev2, qi.right);
  const shadow = createShadowCvq(dev2, { qi: qi.right, negotiated: negotiated2, asid, size: Math.min(256, E32.getOrElse(() => 256)(dev2.getVringNum())), outBytes: 64 * 1024 });
  if (E32.isLeft(shadow)) return E32.left(migrateError("shadow CVQ", shadow.left.message));
  const p = programShadowCvq(dev2, shadow.right);
  if (E32.isLeft(p)) return E32.left(migrateError("shadow CVQ", p.left.message));
  return E32.right({ qi: qi.right, shadow: shadow.right, engine: new CvqEngine(dev2, shadow.right) });
}
function limitsOf(dev2) {
  const c = dev2.getConfig(0, NET_CONFIG.size);
  if (E32.isLeft(c)) return E32.left(migrateError("config", `reading the device limits: ${c.left.message}`));
  if (c.right.length < NET_CONFIG.size) return E32.left(migrateError("config", `config space is ${c.right.length} bytes, virtio-net's is ${NET_CONFIG.size}`));
  const b = c.right;
  const u16 = (o) => b[o] | b[o + 1] << 8;
  return E32.right({
    ...DEFAULT_LIMITS,
    maxQueuePairs: Math.max(1, u16(NET_CONFIG.maxVirtqueuePairs)),
    rssMaxKeySize: b[NET_CONFIG.rssMaxKeySize],
    rssMaxIndirectionTableLength: u16(NET_CONFIG.rssMaxIndirectionTableLength),
    supportedHashTypes: (b[NET_CONFIG.supportedHashTypes] | b[NET_CONFIG.supportedHashTypes + 1] << 8 | b[NET_CONFIG.supportedHashTypes + 2] << 16 | b[NET_CONFIG.supportedHashTypes + 3] << 24) >>> 0
  });
}
function configMac(dev2, negotiated2, fallback) {
  if (!hasFeature(negotiated2, "MAC")) return E32.right(fallback);
  const c = dev2.getConfig(NET_CONFIG.mac, ETH_ALEN);
  return E32.isRight(c) ? E32.right(formatMac(c.right)) : E32.left(migrateError("config", `reading the MAC: ${c.left.message}`));
}

// src/effects/migration.ts
var hex3 = (v) => `0x${v.toString(16)}`;
var bigHex = (_, v) => typeof v === "bigint" ? hex3(v) : v;
var must = (where, r, what = "") => {
  if (E33.isLeft(r)) throw migrateError(where, `${what}${r.left.message}`);
  return r.right;
};
var svqFailures = (b) => [...b.shadows.values()].flatMap((s) => s.svq.failure ? [s.svq.failure.message] : []);
function sourceEffects(src, opts = {}) {
  const note = opts.note ?? (() => {
  });
  const { dev: dev2, backend, stream } = src;
  const gpa = backend.path.gpa;
  const queues = src.dataQueues;
  const lifecycle = lifecycleEffects(dev2);
  let drainedBases;
  return {
    deviceLifecycle: {
      ...lifecycle,
      // vm_stop: the guest runs up to the stop, its last burst still in flight at VHOST_VDPA_SUSPEND
      async suspendDevice(input, signal) {
        const burst = src.guest?.burst?.() ?? 0;
        await lifecycle.suspendDevice(input, signal);
        note({ kind: "suspended", burst });
      }
    },
    svqSwitch: svqSwitchEffects(backend),
    async startDirtyLog() {
      src.dirty.attach(gpa);
      drainedBases = void 0;
      return { shadowed: backend.mode === "shadow" };
    },
    async syncDirtyLog({ round }, signal) {
      let pagesSent;
      let us;
      if (round === 0) {
        src.dirty.collect();
        pagesSent = stream.pages;
        us = stream.sendAll();
      } else {
        const pages = src.dirty.collect();
        pagesSent = pages.length;
        us = stream.sendPages(pages);
      }
      const frames = src.guest === void 0 ? 0 : await src.guest.run(round, us, signal);
      const broken = svqFailures(backend);
      if (broken.length) throw migrateError("precopy", `round ${round}: shadow virtqueue failed: ${broken.join("; ")}`);
      const dirtyPages = src.dirty.dirtyCount();
      note({ kind: "round", round, pagesSent, dirtyPages, wireUs: us, frames });
      return { pagesSent, dirtyPages };
    },
    async drainInFlight() {
      const r = await backend.drain(queues);
      const broken = svqFailures(backend);
      if (broken.length) throw migrateError("stopAndCopy", `shadow virtqueue failed: ${broken.join("; ")}`);
      drainedBases = r.bases;
      let svqForwarded = 0;
      for (const s of backend.shadows.values()) svqForwarded += s.svq.stats().forwarded;
      note({ kind: "drained", inFlight: r.handedBack, bases: r.bases, svqForwarded, guestInFlight: src.guest?.outstanding?.() ?? 0 });
      return { inFlight: r.handedBack };
    },
    async saveRecord({ rounds, pagesSent }) {
      const pages = src.dirty.collect();
      let us = stream.sendPages(pages);
      const diff = stream.firstDifference();
      if (diff >= 0) throw migrateError("stopAndCopy", `guest page 0x${diff.toString(16)} differs between source and destination: a write escaped the dirty log`);
      const offered = await orReject(dev2.getFeatures());
      const backendFeatures = await orReject(dev2.getBackendFeatures());
      const bases = drainedBases ?? queues.map((qi) => must("stopAndCopy", dev2.getVringBase(qi)));
      const record = {
        format: MIGRATION_FORMAT,
        version: MIGRATION_RECORD_VERSION,
        device: JSON.parse(JSON.stringify(encodeStateJson(src.deviceState()), bigHex)),
        features: { offered: hex3(offered), negotiated: hex3(src.negotiated), backend: hex3(backendFeatures) },
        vrings: queues.map((qi, i) => ({ index: qi, base: bases[i] })),
        dirty: { pageSize: PAGE_SIZE, rounds, pagesSent: pagesSent + pages.length, remaining: pages.length }
      };
      const text = `${JSON.stringify(record, null, 2)}
`;
      us += stream.sendBytes(text.length);
      note({ kind: "saved", remainingPages: pages.length, recordBytes: text.length, wireUs: us });
      return { record };
    },
    async stopDirtyLog() {
      src.dirty.detach(gpa);
      note({ kind: "rolled-back", end: "source", svqOff: backend.mode === "passthrough" });
    },
    async recoverSvq() {
      const r = backend.recover();
      if (E33.isLeft(r)) throw migrateError("rollback", `switching SVQ off: ${r.left.message}`);
    }
  };
}
function stateDifferences(a, b) {
  const ja = { ...encodeStateJson(a) };
  const jb = { ...encodeStateJson(b) };
  return Object.keys(ja).filter((k) => JSON.stringify(ja[k]) !== JSON.stringify(jb[k]));
}
var recordState = (r) => {
  const s = decodeStateJson(r.device);
  if (E33.isLeft(s)) throw migrateError("loading", `device state: ${s.left.message}`);
  return s.right;
};
function restoredModel(record, provisioned, applied) {
  const negotiated2 = BigInt(record.features.negotiated);
  const plan = planCommands(recordState(record), negotiated2);
  const r = applyAll(resetNetState(provisioned.mac, negotiated2), negotiated2, provisioned.limits, plan.slice(0, applied));
  return E33.isLeft(r) ? E33.left({ message: `the device acked ${plan[r.left.index]?.kind ?? "?"} but the model refuses it: ${r.left.message}` }) : r;
}
function destinationEffects(dst, opts = {}) {
  const { dev: dev2, probe } = dst;
  const note = opts.note ?? (() => {
  });
  const now = () => probe?.now() ?? performance.now() * 1e3;
  const st = { cvq: void 0, provisioned: void 0, ramMapped: void 0 };
  const inFlight = /* @__PURE__ */ new Set();
  const track = (p) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => {
    });
    return p;
  };
  const engine = () => {
    if (st.cvq === void 0) throw migrateError("restoringCvq", "the shadow CVQ is not set up");
    return st.cvq.engine;
  };
  const cvqPort = {
    writeBatch: (input, signal) => cvqCommandEffects(engine()).cvqPort.writeBatch(input, signal),
    awaitAcks: (input, signal) => track(Promise.resolve(cvqCommandEffects(engine()).cvqPort.awaitAcks(input, signal)))
  };
  const effects = {
    deviceLifecycle: lifecycleEffects(dev2),
    cvqCommand: { cvqPort },
    async loadRecord({ record }) {
      const r = decodeMigrationRecord(record, decodeStateJson);
      if (E33.isLeft(r)) throw migrateError("loading", r.left.message);
      return { record: r.right };
    },
    prepareDevice: ({ record }, signal) => track(
      (async () => {
        const negotiated2 = BigInt(record.features.negotiated);
        const state = recordState(record);
        if (st.cvq === void 0) st.cvq = must("preparing", setUpCvq(dev2, negotiated2));
        if (st.ramMapped === void 0) {
          const where = dst.guestRam();
          must("preparing", dev2.iotlbUpdate(0, GUEST_RAM_GPA, where.size, where.hva, VHOST_ACCESS_RW), "guest RAM: ");
          st.ramMapped = where;
        }
        for (const v of record.vrings) {
          if (signal.aborted) throw migrateError("preparing", "cancelled");
          const ring = dst.rings.get(v.index);
          if (ring === void 0) throw migrateError("preparing", `no guest ring known for queue ${v.index}`);
          const q = (r) => must("preparing", r, `queue ${v.index}: `);
          q(dev2.setVringNum(v.index, ring.size));
          q(dev2.setVringAddr(v.index, ring.addrs));
          q(dev2.setVringBase(v.index, v.base));
          const back = q(dev2.getVringBase(v.index));
          if (back !== v.base) throw migrateError("preparing", `queue ${v.index}: the device reports base ${back}, the record ${v.base}`);
        }
        const mac2 = must("preparing", configMac(dev2, negotiated2, state.mac));
        st.provisioned = { mac: mac2, limits: must("preparing", limitsOf(dev2)) };
        note({ kind: "prepared", commands: planCommands(state, negotiated2).length });
        return { mac: mac2 };
      })()
    ),
    enableDataQueues: ({ record }) => track(
      (async () => {
        const t0 = now();
        const queues = record.vrings.map((v) => v.index);
        for (const qi of queues) must("enablingQueues", dev2.setVringEnable(qi, true), `queue ${qi}: `);
        for (const qi of queues) must("enablingQueues", dev2.kick(qi), `queue ${qi}: `);
        note({ kind: "queues-enabled", queues, simUs: now() - t0 });
      })()
    ),
    async verifyAgainstRecord({ record, applied }) {
      const negotiated2 = BigInt(record.features.negotiated);
      const want = viewThrough(recordState(record), negotiated2);
      const differences = [];
      if (st.provisioned === void 0) differences.push("no restored model");
      else {
        const model = restoredModel(record, st.provisioned, applied);
        if (E33.isLeft(model)) differences.push(model.left.message);
        else differences.push(...stateDifferences(viewThrough(model.right, negotiated2), want).map((k) => `model ${k}`));
      }
      if (probe !== void 0) differences.push(...stateDifferences(viewThrough(probe.netState(), negotiated2), want).map((k) => `device ${k}`));
      const mac2 = must("verifying", configMac(dev2, negotiated2, want.mac));
      if (mac2 !== want.mac) differences.push(`config-space MAC ${mac2} \u2260 ${want.mac}`);
      note({ kind: "verified", equal: differences.length === 0, differences });
      return { equal: differences.length === 0, differences };
    },
    async quiesceDestination() {
      await Promise.allSettled([...inFlight]);
    },
    async teardownDestination() {
      const errs = [];
      if (st.cvq !== void 0) {
        const d = destroyShadowCvq(dev2, st.cvq.shadow);
        if (E33.isLeft(d)) errs.push(`shadow CVQ: ${d.left.message}`);
        st.cvq = void 0;
      }
      if (st.ramMapped !== void 0) {
        const u = dev2.iotlbInvalidate(0, GUEST_RAM_GPA, st.ramMapped.size);
        if (E33.isLeft(u)) errs.push(`guest RAM: ${u.left.message}`);
        st.ramMapped = void 0;
      }
      st.provisioned = void 0;
      if (errs.length) throw migrateError("rollback", errs.join("; "));
      note({ kind: "rolled-back", end: "destination", svqOff: false });
    }
  };
  return { effects, state: st };
}

// src/device/registry.ts
var CHECKS = {
  faults: (d) => typeof d.setFaults === "function",
  netState: (d) => typeof d.netState === "function",
  suspendState: (d) => typeof d.isSuspended === "function",
  probe: (d) => typeof d.clock?.now === "number" && typeof d.stats?.acksOk === "number",
  sharedHostMemory: (d) => typeof d.host?.addRegion === "function"
};
function hasCapability(dev2, c) {
  return CHECKS[c](dev2);
}

// src/svq/dirty-log.ts
var PAGE_BITS = 32;
function popcount32(x) {
  x = x - (x >>> 1 & 1431655765);
  x = (x & 858993459) + (x >>> 2 & 858993459);
  return (x + (x >>> 4) & 252645135) * 16843009 >>> 24;
}
var DirtyLog = class _DirtyLog {
  blocks;
  lastBlock;
  dirty = 0;
  stats = { marks: 0, bytes: 0, unlogged: 0, pagesDirtied: 0, rounds: 0 };
  /** The bound hook handed to `AddressSpace.setWriteHook` (one closure for the log's life). */
  hook;
  constructor(regions) {
    this.blocks = regions.map((r) => {
      const firstPage = Math.floor(r.base / PAGE_SIZE);
      const pages = Math.floor((r.base + r.size - 1) / PAGE_SIZE) - firstPage + 1;
      return { base: r.base, end: r.base + r.size, firstPage, pages, words: new Uint32Array(Math.ceil(pages / PAGE_BITS)) };
    }).sort((a, b) => a.base - b.base);
    this.hook = (addr, len) => this.mark(addr, len);
  }
  /** A log over every region of `space` (guest-physical memory). */
  static forSpace(space) {
    return new _DirtyLog(space.regions());
  }
  /** Log every write `space` reports (used rings written by the ring layer, `AddressSpace.write*`). */
  attach(space) {
    space.setWriteHook(this.hook);
  }
  detach(space) {
    space.setWriteHook(void 0);
  }
  blockOf(addr) {
    const l = this.lastBlock;
    if (l !== void 0 && addr >= l.base && addr < l.end) return l;
    const bs = this.blocks;
    for (let i = 0; i < bs.length; i++) {
      const b = bs[i];
      if (addr >= b.base && addr < b.end) {
        this.lastBlock = b;
        return b;
      }
    }
    return void 0;
  }
  /** Mark the pages of [addr, addr+len) dirty. Allocation-free. */
  mark(addr, len) {
    if (len <= 0) return;
    this.stats.marks++;
    let cur = addr;
    const end = addr + len;
    while (cur < end) {
      const b = this.blockOf(cur);
      if (b === void 0) {
        let next = end;
        for (let i = 0; i < this.blocks.length; i++) {
          const s = this.blocks[i].base;
          if (s > cur && s < next) next = s;
        }
        this.stats.unlogged += next - cur;
        cur = next;
        continue;
      }
      const stop2 = end < b.end ? end : b.end;
      this.stats.bytes += stop2 - cur;
      this.setPages(b, Math.floor(cur / PAGE_SIZE) - b.firstPage, Math.floor((stop2 - 1) / PAGE_SIZE) - b.firstPage);
      cur = stop2;
    }
  }
  /** Set bits p0..p1 (inclusive, block-relative), counting the pages that were clean. */
  setPages(b, p0, p1) {
    const w = b.words;
    let newly = 0;
    let wi = p0 >>> 5;
    const wLast = p1 >>> 5;
    for (; wi <= wLast; wi++) {
      const lo = wi === p0 >>> 5 ? p0 & 31 : 0;
      const hi = wi === wLast ? p1 & 31 : 31;
      const mask = hi === 31 ? 4294967295 << lo >>> 0 : ((1 << hi + 1) - 1 & 4294967295 << lo) >>> 0;
      const old = w[wi];
      const add = mask & ~old;
      if (add !== 0) {
        newly += popcount32(add >>> 0);
        w[wi] = old | add;
      }
    }
    this.dirty += newly;
    this.stats.pagesDirtied += newly;
  }
  /** Whether the page holding `addr` is dirty (a page is shared by blocks that are not page-aligned). */
  isDirty(addr) {
    const page = Math.floor(addr / PAGE_SIZE);
    for (const b of this.blocks) {
      const p = page - b.firstPage;
      if (p >= 0 && p < b.pages && (b.words[p >>> 5] >>> (p & 31) & 1) === 1) return true;
    }
    return false;
  }
  /** Dirty pages now (not yet collected). */
  dirtyCount() {
    return this.dirty;
  }
  /** Call `fn` with the guest address of every dirty page, in address order, without clearing. */
  forEachDirty(fn) {
    for (const b of this.blocks) {
      const w = b.words;
      for (let wi = 0; wi < w.length; wi++) {
        let x = w[wi];
        while (x !== 0) {
          const bit = 31 - Math.clz32(x & -x);
          fn((b.firstPage + wi * 32 + bit) * PAGE_SIZE);
          x = (x & x - 1) >>> 0;
        }
      }
    }
  }
  /** Read and clear: the page addresses dirtied since the previous round (one migration round). */
  collect() {
    const out = [];
    this.forEachDirty((p) => out.push(p));
    for (const b of this.blocks) b.words.fill(0);
    this.dirty = 0;
    this.stats.rounds++;
    return out;
  }
};

// src/migrate/world.ts
function probeOf(dev2) {
  if (!hasCapability(dev2, "probe") || !hasCapability(dev2, "netState")) return void 0;
  return { now: () => dev2.clock.now, acks: () => ({ ok: dev2.stats.acksOk, err: dev2.stats.acksErr }), netState: () => dev2.netState() };
}
var guestRingsOf = (path) => new Map(path.queues.map((q) => [q.qi, { size: q.config.size, addrs: q.config.addrs }]));
var MigrationStream = class {
  constructor(src, dst, opts) {
    this.src = src;
    this.dst = dst;
    this.opts = opts;
    if (dst.size < src.size) throw new RangeError(`destination RAM (${dst.size} bytes) is smaller than the guest's (${src.size})`);
  }
  src;
  dst;
  opts;
  /** Simulated µs spent on the wire. */
  wireUs = 0;
  pagesCopied = 0;
  bytesCopied = 0;
  get pages() {
    return Math.ceil(this.src.size / PAGE_SIZE);
  }
  /** Send pages (guest-physical addresses) and account their time on the wire; returns the µs taken. */
  sendPages(gpas) {
    const s = this.src.bytes;
    const d = this.dst.bytes;
    for (const gpa of gpas) {
      const o = gpa - GUEST_RAM_GPA;
      const end = Math.min(o + PAGE_SIZE, this.src.size);
      d.set(s.subarray(o, end), o);
    }
    return this.account(gpas.length * PAGE_SIZE, gpas.length);
  }
  /** The bulk stage: every page of guest RAM. */
  sendAll() {
    this.dst.bytes.set(this.src.bytes);
    return this.account(this.src.size, this.pages);
  }
  /** Non-page data (the device record) on the wire. */
  sendBytes(n) {
    return this.account(n, 0);
  }
  account(bytes, pages) {
    this.pagesCopied += pages;
    this.bytesCopied += bytes;
    const us = bytes / this.opts.bandwidth;
    this.wireUs += us;
    return us;
  }
  /** First differing page (guest-physical address) between the guest's RAM and the copy, or -1. */
  firstDifference() {
    const a = Buffer.from(this.src.buffer, this.src.offset, this.src.size);
    const b = Buffer.from(this.dst.buffer, this.dst.offset, this.src.size);
    if (a.equals(b)) return -1;
    for (let o = 0; o < this.src.size; o += PAGE_SIZE) {
      const n = Math.min(PAGE_SIZE, this.src.size - o);
      if (!a.subarray(o, o + n).equals(b.subarray(o, o + n))) return GUEST_RAM_GPA + o;
    }
    return -1;
  }
};

// src/mbt/sim.ts
function faultyDevice(inner) {
  const failing = /* @__PURE__ */ new Set();
  let hide = 0n;
  let refuse2 = false;
  let corrupt = false;
  const device = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      const fn = v.bind(target);
      const name = String(prop);
      if (failing.has(name)) {
        return (...args) => {
          failing.delete(name);
          const err = deviceError("fault", name, `${name} failed (injected by the model-based test)`);
          return name === "waitCall" ? Promise.resolve(E34.left(err)) : (void args, E34.left(err));
        };
      }
      if (name === "getFeatures" && hide !== 0n) {
        return () => {
          const m = hide;
          hide = 0n;
          return E34.map((f) => f & ~m)(fn());
        };
      }
      if (name === "getConfig" && corrupt) {
        return (offset, len) => {
          corrupt = false;
          return E34.map((b) => {
            const c = b.slice();
            c[0] = c[0] ^ 255;
            return c;
          })(fn(offset, len));
        };
      }
      if (name === "setStatus" && refuse2) {
        return (status) => {
          if ((status & VIRTIO_CONFIG_S.FEATURES_OK) === 0) return fn(status);
          refuse2 = false;
          return fn(status & ~VIRTIO_CONFIG_S.FEATURES_OK);
        };
      }
      return fn;
    }
  });
  return {
    device,
    failNext: (op) => void failing.add(op),
    hideFeaturesOnce: (mask) => void (hide = mask),
    refuseFeaturesOkOnce: () => void (refuse2 = true),
    corruptConfigOnce: () => void (corrupt = true),
    armed: () => [...failing, ...hide ? ["getFeatures(hide)"] : [], ...refuse2 ? ["setStatus(refuse FEATURES_OK)"] : [], ...corrupt ? ["getConfig(corrupt)"] : []]
  };
}
var GatedEffects = class {
  gates = /* @__PURE__ */ new Map();
  actorsFor(machine, effects) {
    const out = {};
    for (const src of Object.keys(machine.implementations.actors)) {
      const fn = effects[src];
      out[src] = fromPromise(
        ({ input, signal }) => new Promise((resolve, reject) => {
          const gate = {
            input,
            release: async () => {
              if (fn === void 0) return reject(new Error(`no effect bound for ${src}`));
              try {
                resolve(await fn(input, signal));
              } catch (e) {
                reject(e);
              }
            }
          };
          this.gates.set(src, gate);
          signal.addEventListener("abort", () => {
            if (this.gates.get(src) === gate) this.gates.delete(src);
          });
        })
      );
    }
    return out;
  }
  inputOf(src) {
    return this.gates.get(src)?.input;
  }
  /** Run the pending invocation of `src`; false when none is waiting. */
  async release(src) {
    const g = this.gates.get(src);
    if (g === void 0) return false;
    this.gates.delete(src);
    await g.release();
    return true;
  }
};
function simHarness(b) {
  return {
    machine: b.machine,
    ...b.infeasible ? { infeasible: (p) => b.infeasible(p) } : {},
    async start(path) {
      const env = await b.env(path);
      const gates = new GatedEffects();
      const clock = new SimulatedClock();
      const machine = b.machine.provide({ actors: gates.actorsFor(b.machine, b.effects(env)) });
      const actor = createActor(machine, { input: b.input(path, env), clock });
      actor.start();
      return {
        actor,
        prepare(next, view) {
          b.ahead?.(next, env, view);
        },
        async perform(edge, view) {
          await settle();
          b.arrange(edge, env, view);
          if (edge.kind === "event") actor.send(b.event?.(edge, env, view) ?? { type: edge.trigger });
          else if (edge.kind === "done" || edge.kind === "error") {
            if (!await gates.release(edge.trigger)) throw new Error(`actor ${edge.trigger} is not running at step ${view.index}`);
          } else clock.increment(delayMs(b.machine, edge.trigger, view.snapshot));
          await settle();
        },
        invariants: (view) => b.invariants(view, env),
        dispose() {
          b.dispose?.(env);
          env.sim.close();
        }
      };
    }
  };
}
var LIFECYCLE_OPS = {
  resetDevice: "setStatus",
  writeStatus: "setStatus",
  readStatus: "getStatus",
  readFeatures: "getFeatures",
  writeFeatures: "setFeatures"
};
var simDevice = (opts = {}) => {
  const sim = new SimVdpaDevice({ profile: "full", ...opts });
  const own = sim.setOwner();
  if (E34.isLeft(own)) throw new Error(own.left.message);
  return { sim, faulty: faultyDevice(sim) };
};
var lifecycleSim = simHarness({
  machine: deviceLifecycleMachine,
  env: () => simDevice(),
  input: () => ({ wanted: `0x${SCRIPT_WANTED.toString(16)}`, resetTimeoutMs: 100 }),
  effects: (env) => lifecycleEffects(env.faulty.device),
  ahead(edge, env) {
    if (edge.trigger === "readStatus" && edge.kind === "done" && edge.guard === null) env.faulty.refuseFeaturesOkOnce();
  },
  arrange(edge, env) {
    if (edge.trigger === "readFeatures" && edge.kind === "done" && edge.guard === null) env.faulty.hideFeaturesOnce(F.VERSION_1);
    if (edge.kind !== "error") return;
    if (edge.trigger === "suspendDevice") env.sim.setFaults([{ kind: "suspend-fails", times: 1 }]);
    else if (edge.trigger === "resumeDevice") env.sim.setFaults([{ kind: "resume-fails", times: 1 }]);
    else env.faulty.failNext(LIFECYCLE_OPS[edge.trigger]);
  },
  event(edge, env) {
    if (edge.trigger === "DEVICE_ERROR") env.sim.injectNeedsReset("model-based test");
    return { type: edge.trigger };
  },
  invariants(view, env) {
    const s = view.snapshot;
    const c = s.context;
    const bad = lifecycleInvariants(s);
    const dev2 = env.sim.getStatus();
    if (E34.isLeft(dev2)) return [...bad, `GET_STATUS failed: ${dev2.left.message}`];
    const refusedSoFar = s.matches({ active: { featuresOk: "reread" } }) && dev2.right === (c.status & ~VIRTIO_CONFIG_S.FEATURES_OK);
    if (dev2.right !== c.status && !refusedSoFar) bad.push(`device status ${formatStatus(dev2.right)} \u2260 machine status ${formatStatus(c.status)}`);
    const suspended = env.sim.isSuspended();
    if (s.matches({ active: { driverOk: "suspended" } }) && !suspended) bad.push("suspended, but the device runs");
    if ((s.matches({ active: { driverOk: "running" } }) || s.matches("reset")) && suspended) bad.push(`device suspended in ${JSON.stringify(s.value)}`);
    if (s.matches({ active: "driverOk" }) && c.negotiated !== `0x${env.sim.negotiatedFeatures().toString(16)}`) {
      bad.push(`device runs with 0x${env.sim.negotiatedFeatures().toString(16)}, the machine negotiated ${c.negotiated}`);
    }
    return bad;
  }
});
function right26(e) {
  if (E34.isLeft(e)) throw new Error(e.left.message);
  return e.right;
}
function bringUpCvq(opts = {}, mask = ~F.RING_PACKED) {
  const { sim, faulty } = simDevice(opts);
  const negotiated2 = right26(sim.getFeatures()) & mask;
  const cvq = right26(startShadowCvq(sim, negotiated2, { asid: 1 }));
  return { sim, faulty, negotiated: negotiated2, engine: new CvqEngine(faulty.device, cvq) };
}
var wantsMoreBatches = (path) => path.steps.some((s) => s.edge.trigger === "awaitAcks" && s.edge.guard === "hasPending");
var cvqSim = simHarness({
  machine: cvqCommandMachine,
  env: () => bringUpCvq(),
  // several batches need one command per batch: serial
  input: (path) => ({
    strategy: wantsMoreBatches(path) ? "serial" : "parallel",
    commands: Array.from({ length: cvqInitialCommands(path) }, (_, i) => vlanAdd(i + 1)),
    ackTimeoutMs: 25
  }),
  effects: (env) => cvqCommandEffects(env.engine),
  infeasible: (path) => cvqScript.infeasible(path),
  // the device answers when it processes the kick, during writeBatch's step: arm the answer then
  ahead(edge, env) {
    if (edge.trigger !== "awaitAcks") return;
    if (edge.guard === "wroteWrongLength") env.sim.setFaults([{ kind: "wrong-used-len", len: 0, times: 1 }]);
    else if (edge.guard === "ackedErr") env.sim.setFaults([{ kind: "nack", times: 1 }]);
    else if (edge.kind === "error" && edge.guard === "ackTimedOut") env.sim.setFaults([{ kind: "no-answer", times: 1 }]);
    else if (edge.kind === "error") env.sim.setFaults([{ kind: "bad-used-id", times: 1 }]);
    else if (edge.kind === "after") env.sim.setFaults([{ kind: "no-answer", times: 1 }]);
  },
  arrange(edge, env) {
    if (edge.type === "error:writeBatch") env.faulty.failNext("kick");
  },
  event(edge, _env, view) {
    if (edge.trigger !== "ENQUEUE") return { type: edge.trigger };
    const n = view.snapshot.context.commands.length;
    return { type: "ENQUEUE", commands: Array.from({ length: ENQUEUE_BATCH }, (_, i) => vlanAdd(n + i + 1)) };
  },
  invariants(view, env) {
    const s = view.snapshot;
    const c = s.context;
    const bad = cvqInvariants(s);
    for (let i = 0; i < c.applied; i++) {
      const seen = env.sim.cvqLog[i];
      if (seen === void 0 || seen.ack !== VIRTIO_NET_OK || seen.name !== "VLAN_ADD") bad.push(`command #${i} counted as applied, device log: ${seen ? `${seen.name} ack ${seen.ack}` : "nothing"}`);
    }
    if (s.matches("done") && env.sim.cvqLog.length !== c.commands.length) bad.push(`done, but the device saw ${env.sim.cvqLog.length}/${c.commands.length} commands`);
    return bad;
  }
});
var DATA_QUEUES = [0, 1];
function bringUpDataPath(opts = {}) {
  const { sim, faulty } = simDevice({ maxQueuePairs: 1, ...opts });
  const negotiated2 = right26(sim.getFeatures()) & ~(F.RING_PACKED | F.MQ | F.RSS | F.HASH_REPORT);
  right26(sim.setBackendFeatures(right26(sim.getBackendFeatures())));
  right26(sim.setStatus(VIRTIO_CONFIG_S.ACKNOWLEDGE | VIRTIO_CONFIG_S.DRIVER));
  right26(sim.setFeatures(negotiated2));
  right26(sim.setStatus(VIRTIO_CONFIG_S.ACKNOWLEDGE | VIRTIO_CONFIG_S.DRIVER | VIRTIO_CONFIG_S.FEATURES_OK));
  const path = right26(createDataPath(faulty.device, { queues: DATA_QUEUES, size: 64, negotiated: negotiated2 }));
  right26(sim.setStatus(VIRTIO_CONFIG_S.ACKNOWLEDGE | VIRTIO_CONFIG_S.DRIVER | VIRTIO_CONFIG_S.FEATURES_OK | VIRTIO_CONFIG_S.DRIVER_OK));
  const backend = new SvqBackend(path);
  const nic = new GuestNic(path, (qi) => backend.notify(qi));
  right26(nic.postRx(0, 8));
  return { sim, faulty, backend, nic };
}
async function drainTraffic(env) {
  const tx = env.backend.path.queues[1];
  for (let i = 0; i < 50 && tx.driver.inFlight() > 0; i++) {
    env.sim.settle();
    await new Promise((r) => setImmediate(r));
    right26(env.nic.reap());
  }
}
var SVQ_OPS = {
  readVringBases: "getVringBase",
  pointToShadow: "setVringAddr",
  drainShadow: "getVringBase",
  writeBackIndexes: "setVringBase",
  unmapShadowRings: "iotlbInvalidate",
  pointToGuest: "setVringAddr"
};
function svqInfeasible(path) {
  for (let i = 1; i < path.steps.length; i++) {
    const e = path.steps[i].edge;
    const prev = path.steps[i - 1].edge;
    if (e.type === "error:rollback" && prev.type === "error:suspendDevice") return "a rollback with nothing to undo cannot fail on a real device";
  }
  return void 0;
}
var svqSim = simHarness({
  machine: svqSwitchMachine,
  env: () => bringUpDataPath(),
  input: () => ({ queues: [...DATA_QUEUES] }),
  effects: (env) => svqSwitchEffects(env.backend),
  infeasible: svqInfeasible,
  dispose: (env) => env.backend.stopPump(),
  arrange(edge, env) {
    if (edge.kind !== "error") return;
    if (edge.trigger === "suspendDevice") env.sim.setFaults([{ kind: "suspend-fails", times: 1 }]);
    else if (edge.trigger === "resumeDevice" || edge.trigger === "rollback") env.sim.setFaults([{ kind: "resume-fails", times: 1 }]);
    else if (edge.trigger === "mapShadowRings") env.sim.setFaults([{ kind: "iotlb-map-fails", times: 1 }]);
    else env.faulty.failNext(SVQ_OPS[edge.trigger]);
  },
  event(edge, env) {
    if (edge.trigger === "RESET") right26(env.backend.recover());
    return edge.trigger === "ENABLE" ? { type: "ENABLE", trigger: "migration" } : edge.trigger === "DISABLE" ? { type: "DISABLE", trigger: "precopy-failed" } : { type: edge.trigger };
  },
  async invariants(view, env) {
    const s = view.snapshot;
    const bad = svqInvariants(s);
    const { backend: b, nic, sim } = env;
    if (nic.posted - nic.reaped !== nic.inFlight()) bad.push(`ledger: posted ${nic.posted}, reaped ${nic.reaped}, in flight ${nic.inFlight()}`);
    const stable = s.matches("passthrough") || s.matches("shadow");
    if (!stable) return bad;
    const mode = s.matches("shadow") ? "shadow" : "passthrough";
    if (b.mode !== mode) bad.push(`machine in ${mode}, data path in ${b.mode}`);
    const shadowMaps = b.tree.maps().filter((m) => m.kind === "hva").length;
    const iotlb = sim.iotlbEntries(0).length;
    if (mode === "passthrough" && (b.shadows.size !== 0 || shadowMaps !== 0 || iotlb !== 1)) {
      bad.push(`passthrough with ${b.shadows.size} shadow queue(s), ${shadowMaps} shadow IOVA map(s), ${iotlb} IOTLB entries (only guest RAM expected)`);
    }
    if (mode === "shadow" && (b.shadows.size !== DATA_QUEUES.length || iotlb !== 1 + DATA_QUEUES.length)) bad.push(`shadow with ${b.shadows.size} shadow queue(s), ${iotlb} IOTLB entries`);
    if (sim.isSuspended()) bad.push(`device left suspended in ${mode}`);
    const rx0 = nic.rxBytes;
    const sent = nic.sendTx(1, 2);
    if (E34.isLeft(sent)) return [...bad, `sending in ${mode}: ${sent.left.message}`];
    await drainTraffic(env);
    if (b.path.queues[1].driver.inFlight() !== 0) bad.push(`${b.path.queues[1].driver.inFlight()} frame(s) stuck on the transmit queue in ${mode}`);
    if (nic.rxBytes <= rx0) bad.push(`nothing received in ${mode}`);
    right26(nic.postRx(0, 2));
    return bad;
  }
});
var SOURCE_STATE = {
  ...resetNetState("52:54:00:aa:bb:cc"),
  rxMode: { promisc: false, allmulti: true, alluni: false, nomulti: false, nouni: false, nobcast: false },
  macTable: { unicast: ["02:00:00:00:00:01", "02:00:00:00:00:02"], multicast: ["01:00:5e:00:00:01"], unicastOverflow: false, multicastOverflow: false },
  vlanFilter: vlanFilterOf([1, 100, 200, 4094])
};
var SPLIT_SINGLE_PAIR = ~(F.RING_PACKED | F.MQ | F.RSS | F.HASH_REPORT);
var THRESHOLD_PAGES = 2;
async function bringUpSource(o = {}) {
  const { sim, faulty } = simDevice({ maxQueuePairs: 1, ...o.profile === void 0 ? {} : { profile: o.profile } });
  const negotiated2 = right26(sim.getFeatures()) & SPLIT_SINGLE_PAIR;
  const cvq = right26(prepareShadowCvq(sim, negotiated2, { asid: 1 }));
  const path = right26(createDataPath(faulty.device, { queues: DATA_QUEUES, size: 64, negotiated: negotiated2 }));
  right26(sim.setStatus(VIRTIO_CONFIG_S.ACKNOWLEDGE | VIRTIO_CONFIG_S.DRIVER | VIRTIO_CONFIG_S.FEATURES_OK | VIRTIO_CONFIG_S.DRIVER_OK));
  const plan = planRestore(o.state ?? SOURCE_STATE, negotiated2);
  const out = await runCvqCommands(new CvqEngine(sim, cvq), plan.map(toCvqCommand2), { strategy: "parallel", ackTimeoutMs: 100 });
  let model = resetNetState(formatMac(right26(sim.getConfig(NET_CONFIG.mac, ETH_ALEN))), negotiated2);
  for (let i = 0; i < out.applied; i++) model = right26(applyCommand(model, negotiated2, DEFAULT_LIMITS, plan[i].cmd));
  const dirty = DirtyLog.forSpace(path.gpa);
  dirty.attach(path.gpa);
  const backend = new SvqBackend(path, { dirty });
  const nic = new GuestNic(path, (q) => backend.notify(q));
  right26(nic.postRx(0, 16));
  return { sim, faulty, backend, nic, model, negotiated: negotiated2, dirty };
}
var bigintJson = (x) => JSON.stringify(x, (_, v) => typeof v === "bigint" ? `0x${v.toString(16)}` : v);
function incomingRecord(src, state) {
  return right26(
    E34.mapLeft((e) => e)(
      makeMigrationRecord(
        {
          device: JSON.parse(bigintJson(encodeStateJson(state))),
          offered: right26(src.sim.getFeatures()),
          negotiated: src.negotiated,
          backend: right26(src.sim.getBackendFeatures()),
          // where the source's device stands on the guest rings the destination takes over
          vrings: DATA_QUEUES.map((index) => ({ index, base: right26(src.sim.getVringBase(index)) })),
          dirty: { pageSize: 4096, rounds: 3, pagesSent: 120, remaining: 1 }
        },
        decodeStateJson
      )
    )
  );
}
function migrationSides(src, dst, o = {}) {
  const path = src.backend.path;
  const incoming = right26(dst.allocHost(path.ram.size, "incoming-ram"));
  const stream = new MigrationStream(path.ram, incoming, { bandwidth: 1250, rate: 0 });
  const workload = o.workload;
  const probe = probeOf(dst);
  return {
    source: {
      dev: o.srcDev ?? src.sim,
      backend: src.backend,
      dirty: src.dirty,
      negotiated: src.negotiated,
      dataQueues: DATA_QUEUES,
      deviceState: () => src.model,
      stream,
      ...workload === void 0 ? {} : { guest: { run: (round) => workload(round) } }
    },
    destination: {
      dev: o.dstDev ?? dst,
      rings: guestRingsOf(path),
      guestRam: () => {
        if (o.copyAtRestore === true) stream.sendAll();
        return { hva: incoming.base, size: incoming.size };
      },
      ...probe === void 0 ? {} : { probe }
    },
    incoming
  };
}
var MIGRATION_SRC_OPS = { drainInFlight: "getVringBase", saveRecord: "getBackendFeatures" };
var MIGRATION_DST_OPS = {
  resetAndNegotiate: "setFeatures",
  restoreCvq: "getConfig",
  enableDataQueues: "setVringEnable",
  verifyAgainstRecord: "getConfig",
  rollbackDestination: "setStatus"
};
var NACK_NEEDS_SIM = "a refused restore needs the simulator to NACK a VLAN_ADD (the planner sends a real vdpa_sim_net only MAC_ADDR_SET, which it always acks)";
function migrationHarness(setup2) {
  const paths = /* @__PURE__ */ new Map();
  return simHarness({
    machine: migrationMachine,
    async env(p) {
      const so = setup2.source(p);
      const state = so.state ?? SOURCE_STATE;
      const src = await bringUpSource(so);
      const dstDev = setup2.destination(p);
      const dst = { dev: dstDev, faulty: faultyDevice(dstDev) };
      right26(dstDev.setBackendFeatures(right26(dstDev.getBackendFeatures())));
      const sides = migrationSides(src, dstDev, {
        srcDev: src.faulty.device,
        dstDev: dst.faulty.device,
        copyAtRestore: true,
        workload: async () => {
          if (env.traffic === 0) return 0;
          right26(src.nic.postRx(0, env.traffic));
          right26(src.nic.sendTx(1, env.traffic));
          await drainTraffic(src);
          return env.traffic;
        }
      });
      const env = {
        sim: src.sim,
        faulty: src.faulty,
        src,
        dst,
        state,
        traffic: 0,
        incoming: void 0,
        record: incomingRecord(src, state),
        source: sourceEffects(sides.source),
        destination: destinationEffects(sides.destination, { strategy: "parallel", ackTimeoutMs: setup2.ackTimeoutMs })
      };
      env.incoming = env.record;
      paths.set(env, p);
      return env;
    },
    input: (path) => {
      const r = migrationMaxRounds(path);
      return { dirtyThresholdPages: THRESHOLD_PAGES, maxRounds: typeof r === "number" ? r : 1 };
    },
    infeasible: (path) => {
      const r = migrationMaxRounds(path);
      return typeof r === "string" ? r : setup2.infeasible?.(path);
    },
    effects: (env) => ({ ...env.source.effects, ...env.destination.effects }),
    ahead(edge, env) {
      if (edge.type === "error:loadRecord") env.incoming = { ...env.record, version: 2 };
    },
    arrange(edge, env) {
      const t5 = edge.trigger;
      if (t5 === "syncDirtyLog") {
        env.traffic = edge.guard === "converged" ? 0 : 8;
        if (edge.kind === "error") env.src.sim.setFaults([{ kind: "bad-used-id", queue: 0, times: 1 }]);
        return;
      }
      if (edge.kind === "done") {
        if (t5 === "saveRecord" && edge.guard === null) env.src.faulty.hideFeaturesOnce(F.VERSION_1);
        if (t5 === "resetAndNegotiate" && edge.guard === null) env.dst.faulty.hideFeaturesOnce((env.src.negotiated & F.CTRL_VLAN) !== 0n ? F.CTRL_VLAN : F.CTRL_MAC_ADDR);
        if (t5 === "restoreCvq" && edge.guard === null) {
          if (!(env.dst.dev instanceof SimVdpaDevice)) throw new Error(NACK_NEEDS_SIM);
          env.dst.dev.setFaults([{ kind: "nack", times: 1, match: { commands: ["VLAN_ADD"] } }]);
        }
        if (t5 === "verifyAgainstRecord" && edge.guard === null) env.dst.faulty.corruptConfigOnce();
        return;
      }
      if (edge.kind !== "error") return;
      if (t5 === "enableSvq" || t5 === "suspendSource") env.src.sim.setFaults([{ kind: "suspend-fails", times: 1 }]);
      else if (t5 === "rollbackSource") env.src.sim.setFaults([{ kind: "resume-fails" }]);
      else if (MIGRATION_SRC_OPS[t5] !== void 0) env.src.faulty.failNext(MIGRATION_SRC_OPS[t5]);
      else if (MIGRATION_DST_OPS[t5] !== void 0) env.dst.faulty.failNext(MIGRATION_DST_OPS[t5]);
    },
    event(edge, env) {
      if (edge.trigger === "INCOMING") return { type: "INCOMING", record: env.incoming };
      if (edge.trigger === "CANCEL") return { type: "CANCEL", reason: "operator" };
      return { type: edge.trigger };
    },
    async invariants(view, env) {
      const bad = await migrationChecks(view, env);
      const p = paths.get(env);
      if (p !== void 0) setup2.observe?.(p, view, env);
      return bad;
    },
    dispose(env) {
      paths.delete(env);
      env.src.backend.stopPump();
      env.source.dispose();
      env.dst.dev.close();
    }
  });
}
async function migrationChecks(view, env) {
  const s = view.snapshot;
  const c = s.context;
  const bad = migrationInvariants(s);
  const { nic, backend, sim } = env.src;
  if (nic.posted - nic.reaped !== nic.inFlight()) bad.push(`source ledger: posted ${nic.posted}, reaped ${nic.reaped}, in flight ${nic.inFlight()}`);
  if (s.matches({ source: "completed" })) {
    if (!sim.isSuspended()) bad.push("completed with the source still running");
    if (bigintJson(c.record?.device) !== bigintJson(encodeStateJson(env.src.model))) bad.push("the record does not hold the source model");
  }
  if (s.matches({ source: "cancelled" }) || s.matches("idle")) {
    if (sim.isSuspended()) bad.push("source left suspended");
    if (backend.mode !== "passthrough") bad.push(`source left in ${backend.mode} mode`);
    if (bigintJson(sim.netState()) !== bigintJson(env.src.model)) bad.push("source device state changed");
    const rx0 = nic.rxBytes;
    right26(nic.postRx(0, 2));
    right26(nic.sendTx(1, 2));
    await drainTraffic(env.src);
    if (backend.path.queues[1].driver.inFlight() !== 0 || nic.rxBytes <= rx0) bad.push("the source does not forward traffic after the rollback");
  }
  if (s.matches({ destination: "running" }) && c.record !== null) {
    const mac2 = env.dst.dev.getConfig(NET_CONFIG.mac, ETH_ALEN);
    if (E34.isLeft(mac2) || formatMac(mac2.right) !== env.state.mac) bad.push(`destination MAC ${E34.isLeft(mac2) ? mac2.left.message : formatMac(mac2.right)} \u2260 record ${env.state.mac}`);
    if (env.dst.dev instanceof SimVdpaDevice) {
      const expected = viewThrough(env.state, env.destination.state.negotiated);
      const seen = env.dst.dev.netState();
      if (bigintJson(seen) !== bigintJson(expected)) bad.push(`destination device state \u2260 record: ${bigintJson(seen).slice(0, 120)} vs ${bigintJson(expected).slice(0, 120)}`);
    }
  }
  if (s.matches({ destination: "aborted" }) && E34.getOrElse(() => -1)(env.dst.dev.getStatus()) !== 0) bad.push("destination not reset after the rollback");
  return bad;
}
var migrationSim = migrationHarness({
  source: () => ({}),
  destination: () => {
    const dst = simDevice({ maxQueuePairs: 1, mac: "52:54:00:00:00:99" });
    return dst.sim;
  },
  ackTimeoutMs: 100
});

// src/state/maximal.ts
function maximalState(rxMode = {}) {
  const s = { ...resetNetState("52:54:00:12:34:56") };
  for (const c of CLASSES) Object.assign(s, c.maximal());
  return { ...s, rxMode: { ...s.rxMode, ...rxMode } };
}

// .tmp/ser.ts
for (let r = 0; r < 3; r++) {
  const env = bringUpCvq({});
  const commands = planRestore(maximalState({ alluni: true, nomulti: true, nouni: true }), env.negotiated).map(toCvqCommand);
  const t0 = performance.now();
  const o = await runCvqCommands(env.engine, commands, { strategy: "serial", ackTimeoutMs: 1e3 });
  console.log(((performance.now() - t0) * 1e3 / o.roundTrips).toFixed(1), "us/trip");
  env.sim.close();
}
