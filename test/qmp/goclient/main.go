// An independent QMP client for shadowvq's QMP server: DigitalOcean's go-qemu `qmp` package (Debian's
// golang-github-digitalocean-go-qemu-dev), built offline with GO111MODULE=off and GOPATH=/usr/share/gocode.
//
// It connects, negotiates, turns the `events` migration capability on, starts a demo migration and
// collects every MIGRATION status event up to a final one, then starts a second and cancels it once it is
// active. It prints what it saw as one JSON object on stdout (the vitest test judges it) and exits 0,
// or prints the failure on stderr and exits 1.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
)

type seen struct {
	Version    string                 `json:"version"`
	Package    string                 `json:"package"`
	Completed  []string               `json:"completed"`
	Passes     []float64              `json:"passes"`
	Query      map[string]interface{} `json:"query"`
	Cancelled  []string               `json:"cancelled"`
	QueryAfter map[string]interface{} `json:"queryAfterCancel"`
	Status     map[string]interface{} `json:"status"`
	Unknown    string                 `json:"unknownCommandError"`
}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "goclient: "+format+"\n", a...)
	os.Exit(1)
}

func run(mon *qmp.SocketMonitor, cmd qmp.Command) map[string]interface{} {
	b, _ := json.Marshal(cmd)
	out, err := mon.Run(b)
	if err != nil {
		fail("%s: %v", cmd.Execute, err)
	}
	var r struct {
		Return interface{} `json:"return"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		fail("%s: %v", cmd.Execute, err)
	}
	m, _ := r.Return.(map[string]interface{})
	return m
}

// statuses collects MIGRATION statuses (and MIGRATION_PASS numbers) until a final status; onStatus may act on each.
func statuses(events <-chan qmp.Event, passes *[]float64, onStatus func(string)) []string {
	var got []string
	deadline := time.After(120 * time.Second)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				fail("event stream closed after %v", got)
			}
			switch e.Event {
			case "MIGRATION_PASS":
				if passes != nil {
					p, _ := e.Data["pass"].(float64)
					*passes = append(*passes, p)
				}
			case "MIGRATION":
				s, _ := e.Data["status"].(string)
				got = append(got, s)
				if onStatus != nil {
					onStatus(s)
				}
				if s == "completed" || s == "failed" || s == "cancelled" {
					return got
				}
			}
		case <-deadline:
			fail("no final MIGRATION status after %v", got)
		}
	}
}

func main() {
	if len(os.Args) != 2 {
		fail("usage: goclient SOCKET")
	}
	mon, err := qmp.NewSocketMonitor("unix", os.Args[1], 5*time.Second)
	if err != nil {
		fail("connect: %v", err)
	}
	if err := mon.Connect(); err != nil {
		fail("negotiate: %v", err)
	}
	defer mon.Disconnect()
	var out seen
	out.Version = mon.Version.String()
	out.Package = mon.Version.Package

	raw, err := mon.Events(context.Background())
	if err != nil {
		fail("events: %v", err)
	}
	// go-qemu hands events over an unbuffered channel from the goroutine that also delivers replies:
	// drain it continuously so a reply is never stuck behind an event.
	events := make(chan qmp.Event, 1024)
	go func() {
		for e := range raw {
			events <- e
		}
		close(events)
	}()

	out.Status = run(mon, qmp.Command{Execute: "query-status"})
	if _, err := mon.Run([]byte(`{"execute":"no-such-command"}`)); err != nil {
		out.Unknown = err.Error()
	}
	run(mon, qmp.Command{Execute: "migrate-set-capabilities", Args: map[string]interface{}{
		"capabilities": []map[string]interface{}{{"capability": "events", "state": true}},
	}})

	// 1: a demo migration, every status event up to completed
	run(mon, qmp.Command{Execute: "migrate", Args: map[string]interface{}{"uri": "sim", "x-demo": true, "x-ram": 8}})
	out.Completed = statuses(events, &out.Passes, nil)
	out.Query = run(mon, qmp.Command{Execute: "query-migrate"})

	// 2: cancelled once active (the command goes from another goroutine: Run waits for its reply)
	run(mon, qmp.Command{Execute: "migrate", Args: map[string]interface{}{"uri": "sim", "x-demo": true, "x-ram": 8}})
	cancelled := make(chan error, 1)
	sent := false
	out.Cancelled = statuses(events, nil, func(s string) {
		if s == "active" {
			sent = true
			go func() {
				_, err := mon.Run([]byte(`{"execute":"migrate_cancel"}`))
				cancelled <- err
			}()
		}
	})
	if !sent {
		fail("the second migration never became active: %v", out.Cancelled)
	}
	if err := <-cancelled; err != nil {
		fail("migrate_cancel: %v", err)
	}
	out.QueryAfter = run(mon, qmp.Command{Execute: "query-migrate"})

	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}
