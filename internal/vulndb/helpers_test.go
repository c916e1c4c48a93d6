package vulndb

import (
	"os"
	"path/filepath"
	"testing"
)

// testdataDir returns the shared folder of real feed records, or skips the
// test when it is absent.
func testdataDir(t testing.TB, sub string) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "testdata", sub)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared testdata %s is absent (%v); it holds the real feed records", sub, err)
	}
	return dir
}

// writeFile writes content to dir/name, creating folders.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// nvdLodash is an NVD API 2.0 page for the CVE that GHSA-35jh-r3h4-6jhm
// aliases, written for the merge tests (the record's text is shortened).
const nvdLodash = `{"resultsPerPage":1,"startIndex":0,"totalResults":1,"format":"NVD_CVE","version":"2.0",
"vulnerabilities":[{"cve":{"id":"CVE-2021-23337","published":"2021-02-15T13:15:12.560",
"lastModified":"2022-09-13T21:25:02.093","vulnStatus":"Analyzed",
"descriptions":[{"lang":"en","value":"Lodash versions prior to 4.17.21 are vulnerable to Command Injection via the template function."}],
"metrics":{"cvssMetricV31":[{"source":"nvd@nist.gov","type":"Primary","cvssData":{"version":"3.1","vectorString":"CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H","baseScore":7.2,"baseSeverity":"HIGH"}}]},
"weaknesses":[{"source":"nvd@nist.gov","type":"Primary","description":[{"lang":"en","value":"CWE-94"}]}],
"configurations":[{"nodes":[{"operator":"OR","negate":false,"cpeMatch":[{"vulnerable":true,"criteria":"cpe:2.3:a:lodash:lodash:*:*:*:*:*:node.js:*:*","versionEndExcluding":"4.17.21","matchCriteriaId":"A1"}]}]}],
"references":[{"url":"https://snyk.io/vuln/SNYK-JS-LODASH-1040724","source":"report@snyk.io","tags":["Exploit","Third Party Advisory"]}]}}]}`
