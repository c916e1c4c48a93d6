package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stella-ops.org/ouk/cas"
)

// expectFailure runs stella and checks its exit code and that stderr
// contains each of want.
func expectFailure(t *testing.T, r result, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d:\n%s", r.code, code, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
}

func TestMirrorSourceMessages(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	image, _ := registryDemoImage(t, e.dir)
	kit1 := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1", "--image", scannerRef+"="+image)
	delta := e.buildKit("kit2.delta.tar", "--version", "2.0.0", "--sequence", "2", "--image", scannerRef+"="+image,
		"--base", kit1, "--delta")
	to := reg.host + "/site"

	t.Run("kit file", func(t *testing.T) {
		r := e.run("ouk", "mirror", "--plain-http", "--to", to, "--dry-run", kit1)
		expectFailure(t, r, exitUsage, "is a file", "mirror reads a kit layout folder", "`stella ouk push` takes kit files")
	})
	t.Run("no active kit", func(t *testing.T) {
		store, err := cas.Open(filepath.Join(e.store, storeDBDir), cas.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(e.store)
		r := e.run("ouk", "mirror", "--plain-http", "--to", to, "--dry-run")
		expectFailure(t, r, exitError, "no kit is active in the store", "or name a kit layout folder")
		if strings.Contains(r.stderr, "name a kit file") {
			t.Errorf("mirror without an active kit advises a kit file, which mirror rejects:\n%s", r.stderr)
		}
	})
	t.Run("missing path", func(t *testing.T) {
		missing := filepath.Join(e.dir, "no-such-folder")
		r := e.run("ouk", "mirror", "--plain-http", "--to", to, "--dry-run", missing)
		expectFailure(t, r, exitError, missing, "no such file or directory", "mirror reads a kit layout folder")
	})

	dir := filepath.Join(e.dir, "delta-layout")
	untarKit(t, delta, dir)
	for _, dryRun := range []bool{true, false} {
		t.Run(fmt.Sprintf("delta folder dry run %v", dryRun), func(t *testing.T) {
			args := []string{"ouk", "mirror", "--plain-http", "--to", to, "--key", e.pub, dir}
			if dryRun {
				args = append(args, "--dry-run")
			}
			r := e.run(args...)
			expectFailure(t, r, exitRejected, "is a delta of kit 1.0.0", "lacks the image blobs of that base kit",
				"mirror the folder of the full kit")
			if strings.Contains(r.stdout, "would push") {
				t.Errorf("dry run claims it would push:\n%s", r.stdout)
			}
			if strings.Contains(r.stderr, "failed to perform") {
				t.Errorf("message is the copy library's:\n%s", r.stderr)
			}
		})
	}
}

func TestRegistryArgumentMessages(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1")

	for _, to := range []string{reg.host + "/Bad Repo", reg.host + "/site:tag", "http://" + reg.host + "/site"} {
		r := e.run("ouk", "mirror", "--plain-http", "--to", to, kit)
		expectFailure(t, r, exitUsage, "REGISTRY[/PREFIX]")
	}
	r := e.run("ouk", "push", "--plain-http", kit, reg.host+"/Stella/kit:x")
	expectFailure(t, r, exitUsage, "repository names are lower case")
	r = e.run("ouk", "import", "--plain-http", "--key", e.pub, "oci://"+reg.host+"/stella/kit@sha256:f08c73")
	expectFailure(t, r, exitUsage, "is incomplete", "give the full digest")

	missing := filepath.Join(e.dir, "nonexist.json")
	r = e.run("ouk", "import", "--plain-http", "--registry-config", missing, "--key", e.pub, "oci://"+reg.host+"/stella/kit:1")
	expectFailure(t, r, exitError, "--registry-config "+missing+": no such file")
	r = e.run("ouk", "push", "--ca-file", filepath.Join(e.dir, "nosuch.pem"), kit, reg.host+"/stella/kit:1")
	expectFailure(t, r, exitError, "--ca-file", "no such file")

	for _, command := range []string{"inspect", "verify"} {
		r := e.run("ouk", command, "--key", e.pub, "oci://"+reg.host+"/stella/kit:1")
		expectFailure(t, r, exitUsage, command+" reads kit files and layout folders", "stella ouk import oci://")
	}
}

func TestRegistryCopyWithoutReferrers(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1")
	e.must("ouk", "push", "--plain-http", kit, reg.host+"/stella/kit:1")
	tool(t, nil, "crane", "copy", "--insecure", reg.host+"/stella/kit:1", reg.host+"/cranecopy/kit:1")

	r := e.run("ouk", "import", "--plain-http", "--key", e.pub, "oci://"+reg.host+"/cranecopy/kit:1")
	expectFailure(t, r, exitRejected, reg.host+"/cranecopy/kit lists no signature referrer", "oras cp -r",
		"regctl image copy --referrers", "the registry has no referrers API, and tag sha256-", "does not exist")
	if strings.Contains(r.stderr, "carries no signature") {
		t.Errorf("a copy without referrers is called unsigned:\n%s", r.stderr)
	}
}

func TestMirrorCountsBlobsAndLogsTagMove(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	image, digests := registryDemoImage(t, e.dir)
	kit1 := e.buildKit("kit1.tar", "--version", "1.0.0", "--sequence", "1", "--image", scannerRef+"="+image)
	kit2 := e.buildKit("kit2.tar", "--version", "2.0.0", "--sequence", "2")
	e.must("ouk", "import", "--key", e.pub, kit1)

	mirrorJSON := func() mirrorReport {
		t.Helper()
		var rep mirrorReport
		if err := json.Unmarshal([]byte(e.must("ouk", "mirror", "--key", e.pub, "--plain-http", "--to", reg.host+"/site", "-o", "json")), &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Images) != 1 {
			t.Fatalf("mirror report lists %d images", len(rep.Images))
		}
		return rep
	}
	first := mirrorJSON().Images[0]
	again := mirrorJSON().Images[0]
	if first.BlobsPushed != again.BlobsSkipped {
		t.Errorf("first mirror pushed %d blobs, second found %d present; the tag was counted as a blob",
			first.BlobsPushed, again.BlobsSkipped)
	}
	if !first.Tagged || again.Tagged {
		t.Errorf("tagged: first %v, second %v", first.Tagged, again.Tagged)
	}

	// Point the tag at a platform manifest, so that the next mirror moves
	// it back without sending a blob.
	target := reg.host + "/site/stella-ops/scanner"
	tool(t, nil, "crane", "tag", "--insecure", target+"@"+digests["linux/arm64"], "0.1.0")
	r := e.run("-v", "ouk", "mirror", "--key", e.pub, "--plain-http", "--to", reg.host+"/site")
	if r.code != 0 {
		t.Fatalf("mirror: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "tagged      "+target+":0.1.0@"+digests["index"]+" (every blob was present)") {
		t.Errorf("retag output:\n%s", r.stdout)
	}
	for _, want := range []string{"moving tag to another digest", "from=" + digests["linux/arm64"], "to=" + digests["index"]} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("mirror log lacks %q:\n%s", want, r.stderr)
		}
	}

	// A push that moves a tag to another kit logs both digests.
	repo := reg.host + "/stella/kit:latest"
	d2 := decodePush(t, e.must("ouk", "push", "--plain-http", "-o", "json", kit2, repo)).Digest
	r = e.run("-v", "ouk", "push", "--plain-http", "-o", "json", kit1, repo)
	if r.code != 0 {
		t.Fatalf("push: exit %d\n%s", r.code, r.stderr)
	}
	d1 := decodePush(t, r.stdout).Digest
	for _, want := range []string{"moving tag to another digest", "from=" + d2, "to=" + d1} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("push log lacks %q:\n%s", want, r.stderr)
		}
	}
}

func TestRegistryAuthAndProtocolHints(t *testing.T) {
	reg := startRegistry(t, true)
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1")

	r := e.run("ouk", "push", "--plain-http", kit, reg.host+"/k/kit:1")
	expectFailure(t, r, exitError, "400", "speaks HTTPS", "so drop --plain-http")

	// A CA file that did not sign the registry's certificate.
	otherCA, _ := writeTLSFiles(t, t.TempDir(), "")
	r = e.run("ouk", "push", "--ca-file", otherCA, kit, reg.host+"/k/kit:1")
	expectFailure(t, r, exitError, "--ca-file "+otherCA+" does not hold the CA that signed the server's certificate")
	if strings.Contains(r.stderr, "pass the registry's CA certificate with --ca-file") {
		t.Errorf("message tells to pass the flag that was passed:\n%s", r.stderr)
	}

	r = e.runIn([]byte("wrong-password\n"), "ouk", "push", "--ca-file", reg.caFile, "-u", registryUser, "--password-stdin",
		kit, reg.host+"/k/kit:1")
	expectFailure(t, r, exitError, reg.host+" rejected the credentials for user "+registryUser)

	dockerDir := t.TempDir()
	config := filepath.Join(dockerDir, "config.json")
	authB64 := base64.StdEncoding.EncodeToString([]byte(registryUser + ":wrong-password"))
	writeFile(t, config, fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.host, authB64))
	r = e.run("ouk", "import", "--ca-file", reg.caFile, "--registry-config", config, "--key", e.pub, "oci://"+reg.host+"/k/kit:1")
	expectFailure(t, r, exitError, "401 Unauthorized", reg.host+" rejected the credentials for user "+registryUser, config)
	if strings.Contains(r.stderr, "map[") {
		t.Errorf("message prints a Go map:\n%s", r.stderr)
	}

	// Scripts tell refused credentials from other failures by the reason.
	r = e.runIn([]byte("wrong-password\n"), "ouk", "push", "-o", "json", "--ca-file", reg.caFile, "-u",
		registryUser, "--password-stdin", kit, reg.host+"/k/kit:1")
	var failure commandFailure
	if err := json.Unmarshal([]byte(r.stdout), &failure); err != nil {
		t.Fatalf("push -o json with a wrong password: decoding the failure object: %v\n%s", err, r.stdout)
	}
	if failure.Reason != "unauthorized" {
		t.Errorf("push with a wrong password: reason %q, want unauthorized", failure.Reason)
	}

	if err := os.WriteFile(config, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.run("ouk", "import", "--ca-file", reg.caFile, "--registry-config", config, "--key", e.pub, "oci://"+reg.host+"/k/kit:1")
	expectFailure(t, r, exitError, "fix the file")
	if strings.Contains(r.stderr, "pass --registry-config") || strings.Count(r.stderr, "--registry-config") > 0 {
		t.Errorf("message tells to pass the flag that was passed:\n%s", r.stderr)
	}
}

// TestPushKitFileWithoutIndexJSON checks that push of a kit file that
// lacks index.json names the file and advises copying it again, as import
// and verify do.
func TestPushKitFileWithoutIndexJSON(t *testing.T) {
	reg := startRegistry(t, false)
	e := newEnv(t)
	kit := e.buildKit("kit.tar", "--version", "1.0.0", "--sequence", "1")
	k := &kitParts{entries: readTar(t, kit)}
	i := k.find("index.json")
	k.entries = append(k.entries[:i], k.entries[i+1:]...)
	file := e.write(t, "no-index.tar", k)

	r := e.run("ouk", "push", "--plain-http", file, reg.host+"/stella/kit:1")
	expectFailure(t, r, exitRejected, "kit "+file+" has no index.json",
		"index.json is damaged, so copy the kit file again")
}
