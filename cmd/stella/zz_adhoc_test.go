package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAdhocLargeForeignScan(t *testing.T) {
	e := newEnv(t)
	e.must("ouk", "import", "--key", e.pub, e.buildKit("kit.tar"))
	var b strings.Builder
	b.WriteString(`{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[`)
	n := 200000
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"type":"library","name":"pkg%d","version":"1.%d.0","purl":"pkg:npm/pkg%d@1.%d.0"}`, i, i, i, i)
	}
	b.WriteString(`,{"type":"library","name":"stella-demo-untar","version":"1.5.0","purl":"pkg:npm/stella-demo-untar@1.5.0"}]}`)
	big := filepath.Join(e.dir, "big.cdx.json")
	os.WriteFile(big, []byte(b.String()), 0o600)
	st, _ := os.Stat(big)
	t.Logf("SBOM %d bytes", st.Size())
	start := time.Now()
	r := e.run("-o", "json", "scan", "--sbom", big)
	t.Logf("standalone: exit %d in %s, stdout %d bytes, stderr %.300s", r.code, time.Since(start), len(r.stdout), r.stderr)
	svc := startServiceAsNobody(t, e)
	defer svc.stopService(t, e.store)
	start = time.Now()
	r2 := e.run("--lock-timeout", "0", "scan", "-o", "json", "--sbom", big)
	t.Logf("foreign: exit %d in %s, stdout %d bytes, stderr %.300s", r2.code, time.Since(start), len(r2.stdout), r2.stderr)
	// malformed
	os.WriteFile(filepath.Join(e.dir, "bad.json"), []byte("{"), 0o644)
	r3 := e.run("scan", "--sbom", filepath.Join(e.dir, "bad.json"))
	t.Logf("foreign bad: exit %d %s", r3.code, r3.stderr)
	// lookups during import
	args := []string{"ouk", "import", "--key", e.pub, e.buildKit("kit2.tar")}
	_ = exec.Command
	_ = args
}
