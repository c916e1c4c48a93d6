package vulndb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/internal/kv"
)

func TestCPEURIToFS(t *testing.T) {
	cases := []struct{ uri, want string }{
		{"cpe:/a:webmproject:libwebp:1.3.1", `cpe:2.3:a:webmproject:libwebp:1.3.1:*:*:*:*:*:*:*`},
		{"cpe:/a:themeisle:wp_maintenance_mode_%26_coming_soon:2.4.4",
			`cpe:2.3:a:themeisle:wp_maintenance_mode_\&_coming_soon:2.4.4:*:*:*:*:*:*:*`},
		{"cpe:/a:themeisle:wp_maintenance_mode_&_coming_soon:2.4.4",
			`cpe:2.3:a:themeisle:wp_maintenance_mode_\&_coming_soon:2.4.4:*:*:*:*:*:*:*`},
		{"cpe:/a:themeisle:wp_maintenance_mode_%26_coming_soon:2.4.4::~~~wordpress~~",
			`cpe:2.3:a:themeisle:wp_maintenance_mode_\&_coming_soon:2.4.4:*:*:*:*:wordpress:*:*`},
		{"cpe:/a:vendor:product:1.0:update1:~pro~enterprise~linux~x64~beta:en-us",
			`cpe:2.3:a:vendor:product:1.0:update1:pro:en-us:enterprise:linux:x64:beta`},
		{"CPE:/A:SAMBA:SAMBA:4.15.8", `cpe:2.3:a:samba:samba:4.15.8:*:*:*:*:*:*:*`},
		{"cpe:/a:vendor:product:1.0:-", `cpe:2.3:a:vendor:product:1.0:-:*:*:*:*:*:*`},
		{"cpe:/a:vendor:product:1.%02", `cpe:2.3:a:vendor:product:1.*:*:*:*:*:*:*:*`},
		{"cpe:/a:vendor:product:1.%01", `cpe:2.3:a:vendor:product:1.?:*:*:*:*:*:*:*`},
		{"cpe:/a:vendor:pro%2dduct%2e%5fx%7e", `cpe:2.3:a:vendor:pro-duct._x\~:*:*:*:*:*:*:*:*`},
		{"cpe:/a:vendor:a~b", `cpe:2.3:a:vendor:a\~b:*:*:*:*:*:*:*:*`},
		{"cpe:/a:vendor:%41b", `cpe:2.3:a:vendor:ab:*:*:*:*:*:*:*:*`},
	}
	for _, c := range cases {
		got, err := cpeURIToFS(c.uri)
		if err != nil {
			t.Errorf("cpeURIToFS(%s): %v", c.uri, err)
			continue
		}
		if got != c.want {
			t.Errorf("cpeURIToFS(%s) = %s, want %s", c.uri, got, c.want)
		}
	}
}

func TestCPEURIToFSRejects(t *testing.T) {
	cases := []struct{ uri, inMessage string }{
		{"cpe:/a:v:p:1:2:3:4:5", "at most 7"},
		{"cpe:/a:v:p:1::~a~b", "packed edition"},
		{"cpe:/a:v:p%2", "incomplete percent-encoding"},
		{"cpe:/a:v:p%zz", "not a percent-encoding"},
		{"cpe:/a:v:p%0a", "outside printable ASCII"},
		{"cpe:/a:v:p q", "write spaces"},
	}
	for _, c := range cases {
		_, err := cpeURIToFS(c.uri)
		if err == nil {
			t.Errorf("cpeURIToFS(%s) succeeded, want an error", c.uri)
			continue
		}
		if !strings.Contains(err.Error(), c.inMessage) {
			t.Errorf("cpeURIToFS(%s) = %v, want a message containing %q", c.uri, err, c.inMessage)
		}
		if err := ValidateCPE(c.uri); !errors.Is(err, errdef.ErrInvalidArgument) {
			t.Errorf("ValidateCPE(%s) = %v, want ErrInvalidArgument", c.uri, err)
		}
	}
}

func TestParseCPEFoldsPart(t *testing.T) {
	c, err := parseCPE("CPE:2.3:A:SAMBA:SAMBA:4.15.8")
	if err != nil {
		t.Fatal(err)
	}
	if c.Part != "a" {
		t.Errorf("part = %q, want a", c.Part)
	}
	if err := ValidateCPE("cpe:2.3:A:samba:samba:4.15.8"); err != nil {
		t.Errorf("ValidateCPE of an upper-case part: %v", err)
	}
}

func TestLookupCPEEveryForm(t *testing.T) {
	res, err := Build(context.Background(), BuildOptions{Feeds: realFeeds(t), Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	db := openBuilt(t, kv.NewMemory(), res, nil)

	cases := []struct{ cpe, want string }{
		{`cpe:2.3:a:themeisle:wp_maintenance_mode_\&_coming_soon:2.4.4:*:*:*:*:wordpress:*:*`, "CVE-2022-1576"},
		{"cpe:/a:themeisle:wp_maintenance_mode_%26_coming_soon:2.4.4", "CVE-2022-1576"},
		{"cpe:/a:themeisle:wp_maintenance_mode_&_coming_soon:2.4.4", "CVE-2022-1576"},
		{"cpe:/a:themeisle:wp_maintenance_mode_%26_coming_soon:2.4.4::~~~wordpress~~", "CVE-2022-1576"},
		{"cpe:/a:themeisle:wp_maintenance_mode_%26_coming_soon:2.4.4::~~~joomla~~", ""},
		{"cpe:/a:themeisle:wp_maintenance_mode_%26_coming_soon:2.4.5", ""},
		{"cpe:/A:SAMBA:SAMBA:4.15.8", "CVE-2022-32746"},
		{"cpe:2.3:A:SAMBA:SAMBA:4.15.8:*:*:*:*:*:*:*", "CVE-2022-32746"},
	}
	for _, c := range cases {
		recs, err := db.LookupCPE(c.cpe)
		if err != nil {
			t.Errorf("LookupCPE(%s): %v", c.cpe, err)
			continue
		}
		if got := ids(recs); got != c.want {
			t.Errorf("LookupCPE(%s) = %q, want %q", c.cpe, got, c.want)
		}
	}
}

func TestCPEVersionNotApplicable(t *testing.T) {
	const product = "cpe:2.3:a:v:p:%s:*:*:*:*:*:*:*"
	cases := []struct {
		name      string
		criterion nvdCPEMatch
		want      bool
	}{
		{"any version", nvdCPEMatch{Criteria: fmt.Sprintf(product, "*")}, true},
		{"not applicable", nvdCPEMatch{Criteria: fmt.Sprintf(product, "-")}, true},
		{"end excluding", nvdCPEMatch{Criteria: fmt.Sprintf(product, "*"), VersionEndExcluding: "2.0"}, false},
		{"start including", nvdCPEMatch{Criteria: fmt.Sprintf(product, "*"), VersionStartIncluding: "1.0"}, false},
		{"fixed version", nvdCPEMatch{Criteria: fmt.Sprintf(product, "1.0")}, false},
	}
	q, err := parseCPEQuery(fmt.Sprintf(product, "-"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		c.criterion.Vulnerable = true
		if got := c.criterion.match(q) == cpeMatchConfirmed; got != c.want {
			t.Errorf("%s: version - matches %+v = %v, want %v", c.name, c.criterion, got, c.want)
		}
	}
}
