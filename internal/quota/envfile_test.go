package quota

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stella-ops.org/ouk/internal/kv"
)

const envSample = `# Stella Ops settings
export OTHER=1
STELLA_JWT=first
not a variable line

STELLA_JWT = "eyJ.second" # later lines win
`

func TestParseEnvFile(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"bare", "STELLA_JWT=abc.def.ghi\n", "abc.def.ghi"},
		{"double quotes", `STELLA_JWT="a\"b\\c"`, `a"b\c`},
		{"single quotes", `STELLA_JWT='a\"b # c'`, `a\"b # c`},
		{"comment after bare", "STELLA_JWT=abc # note", "abc"},
		{"export prefix", "export STELLA_JWT=abc", "abc"},
		{"later wins", envSample, "eyJ.second"},
		{"commented out", "# STELLA_JWT=abc", ""},
		{"crlf", "STELLA_JWT=abc\r\n", "abc"},
		{"byte order mark", "\xef\xbb\xbfSTELLA_JWT=abc\r\n", "abc"},
		{"byte order mark before export", "\xef\xbb\xbfexport STELLA_JWT=abc\n", "abc"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vars, err := ParseEnvFile(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := vars[TokenEnv]; got != tc.want {
				t.Errorf("STELLA_JWT = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseEnvFileErrors(t *testing.T) {
	for name, in := range map[string]string{
		"open double quote": `STELLA_JWT="abc`,
		"open single quote": `STELLA_JWT='abc`,
		"too large":         strings.Repeat("#", MaxEnvFileSize+1),
	} {
		if _, err := ParseEnvFile(strings.NewReader(in)); !errors.Is(err, ErrInvalidEnvFile) {
			t.Errorf("%s: error = %v, want ErrInvalidEnvFile", name, err)
		}
	}
}

func TestLoadToken(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, ".env")
	if err := os.WriteFile(envFile, []byte("STELLA_JWT='from.file'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) string { return "" }

	tok, err := LoadToken(noEnv, envFile)
	if err != nil || tok.Raw != "from.file" || tok.Source != envFile {
		t.Errorf("from file = %+v, %v", tok, err)
	}

	withEnv := func(k string) string {
		if k == TokenEnv {
			return " from.env\n"
		}
		return ""
	}
	tok, err = LoadToken(withEnv, envFile)
	if err != nil || tok.Raw != "from.env" || tok.Source != TokenEnv {
		t.Errorf("variable over file = %+v, %v", tok, err)
	}

	tok, err = LoadToken(noEnv, filepath.Join(dir, "absent.env"))
	if err != nil || tok != (Token{}) {
		t.Errorf("missing file = %+v, %v, want empty token and no error", tok, err)
	}

	bad := filepath.Join(dir, "bad.env")
	if err := os.WriteFile(bad, []byte(`STELLA_JWT="open`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadToken(noEnv, bad); !errors.Is(err, ErrInvalidEnvFile) || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad file error = %v, want ErrInvalidEnvFile naming the path", err)
	}
}

func TestLoadTokenDefaultPath(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile(DefaultEnvFile, []byte("STELLA_JWT=cwd.token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := LoadToken(nil, "")
	if err != nil || tok.Raw != "cwd.token" {
		t.Errorf("default path = %+v, %v", tok, err)
	}
}

func FuzzParseEnvFile(f *testing.F) {
	for _, seed := range []string{envSample, "\xef\xbb\xbf" + envSample, `STELLA_JWT="a\"b\\c\n"`, "STELLA_JWT='x", "export A=b #c", "=", "\x00=\x00"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		vars, err := ParseEnvFile(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrInvalidEnvFile) {
				t.Fatalf("error %v does not wrap ErrInvalidEnvFile", err)
			}
			return
		}
		for k := range vars {
			if k == "" || strings.ContainsAny(k, " \t\n") {
				t.Fatalf("parsed invalid key %q", k)
			}
		}
	})
}

func FuzzToken(f *testing.F) {
	key := newKey(f)
	expired := validSpec()
	expired.exp = testNoon.Add(-time.Hour)
	for _, seed := range []string{
		signToken(f, key, validSpec()),
		signToken(f, key, expired),
		signToken(f, newKey(f), validSpec()),
		"eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4In0.",
		"a.b.c",
		"",
	} {
		f.Add(seed)
	}
	q := newQuota(f, kv.NewMemory(), newClock(testNoon))
	keys := publicKeys(key)
	f.Fuzz(func(t *testing.T, raw string) {
		claims, err := VerifyToken(raw, keys, testNoon)
		if err == nil {
			if claims.TokenID == "" || !claims.ExpiresAt.After(testNoon) || claims.Tier < 0 {
				t.Fatalf("accepted token with invalid claims %+v", claims)
			}
		} else if !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("error %v does not wrap ErrInvalidToken", err)
		}
		id := q.Identify(Token{Raw: raw, Source: TokenEnv}, keys)
		if strings.ContainsAny(id.Warning, "\n\r") {
			t.Fatalf("warning is not one line: %q", id.Warning)
		}
		if (id.Mode == ModeToken) != (err == nil) {
			t.Fatalf("mode %s disagrees with verification error %v", id.Mode, err)
		}
	})
}
