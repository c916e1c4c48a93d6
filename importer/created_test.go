package importer

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

func TestCheckCreated(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		created time.Time
		want    string // part of the warning, or "" for none
	}{
		{"past", now.Add(-30 * 24 * time.Hour), ""},
		{"now", now, ""},
		{"within tolerance", now.Add(CreationTolerance), ""},
		{"just over tolerance", now.Add(CreationTolerance + time.Hour), "25 hours ahead"},
		{"400 days ahead", now.Add(400 * 24 * time.Hour), "400 days ahead"},
		{"no creation time", time.Time{}, ""},
	}
	for _, c := range cases {
		got := CheckCreated(oci.Meta{Version: "v1", Created: c.created}, now)
		if c.want == "" && got != "" {
			t.Errorf("%s: warning %q, want none", c.name, got)
		}
		if c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: warning %q, want it to contain %q", c.name, got, c.want)
		}
	}
}

func TestRoughDuration(t *testing.T) {
	cases := map[time.Duration]string{
		time.Second:                  "1 second",
		90 * time.Second:             "90 seconds",
		5 * time.Minute:              "5 minutes",
		47*time.Hour + time.Minute:   "47 hours",
		400*24*time.Hour - time.Hour: "400 days",
	}
	for d, want := range cases {
		if got := RoughDuration(d); got != want {
			t.Errorf("RoughDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

// TestImportWarnsFutureCreation imports a kit created two days after the
// import's clock and checks that the import activates it with a warning.
func TestImportWarnsFutureCreation(t *testing.T) {
	f := newFixture(t)
	kit := f.kit("1.0.0", 1) // created 2026-12-01
	opts := f.opts()
	opts.Now = func() time.Time { return time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC) }
	res, err := ImportStream(context.Background(), bytes.NewReader(kit), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "2 days ahead of this host's clock") {
		t.Errorf("warnings = %q, want one about the creation time 2 days ahead", res.Warnings)
	}
	if res.Action != "import" {
		t.Errorf("action = %q, want import", res.Action)
	}
}

// TestDowngradeNamesActiveAheadOfClock checks that the rejection of a kit
// older than an active kit created ahead of the clock names that creation
// time and the recovery when the active kit's sequence is its default, the
// creation time. It offers a rollback only when the history has an earlier
// kit, and the usual rejection names neither.
func TestDowngradeNamesActiveAheadOfClock(t *testing.T) {
	created := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) // creation time of every fixture kit
	defaultSequence := created.Unix()
	cases := []struct {
		name           string
		now            time.Time
		activeSequence int64
		earlierKit     bool
		ahead          bool
		rollback       bool
	}{
		{"active kit 30 days ahead", created.Add(-30 * 24 * time.Hour), defaultSequence, true, true, true},
		{"first kit 30 days ahead", created.Add(-30 * 24 * time.Hour), defaultSequence, false, true, false},
		{"explicit sequence 30 days ahead", created.Add(-30 * 24 * time.Hour), 100, true, false, false},
		{"active kit within tolerance", created.Add(-time.Hour), defaultSequence, true, false, false},
		{"active kit in the past", created.Add(24 * time.Hour), defaultSequence, true, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			opts := f.opts()
			opts.Now = func() time.Time { return c.now }
			ctx := context.Background()
			if c.earlierKit {
				if _, err := ImportStream(ctx, bytes.NewReader(f.kit("1.0.0", 1)), opts); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := ImportStream(ctx, bytes.NewReader(f.kit("3.0.0", c.activeSequence)), opts); err != nil {
				t.Fatal(err)
			}
			_, err := ImportStream(ctx, bytes.NewReader(f.kit("2.0.0", 2)), opts)
			if !errors.Is(err, errdef.ErrDowngrade) {
				t.Fatalf("err = %v, want ErrDowngrade", err)
			}
			msg := err.Error()
			if got := strings.Contains(msg, "ahead of this host's clock"); got != c.ahead {
				t.Errorf("message names the active kit's creation ahead of the clock = %v, want %v: %s", got, c.ahead, msg)
			}
			if !c.ahead {
				return
			}
			if got := strings.Contains(msg, "run `stella ouk rollback`"); got != c.rollback {
				t.Errorf("message offers stella ouk rollback = %v, want %v: %s", got, c.rollback, msg)
			}
			for _, want := range []string{"3.0.0", "2026-12-01T00:00:00Z", "30 days ahead", "--allow-downgrade"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q: %s", want, msg)
				}
			}
		})
	}
}
