package quota

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"stella-ops.org/ouk/internal/regfile"
)

// TokenEnv is the environment variable, and the .env file key, that holds
// the quota token.
const TokenEnv = "STELLA_JWT"

// DefaultEnvFile is the .env file read when no path is given, relative to
// the working directory.
const DefaultEnvFile = ".env"

// MaxEnvFileSize is the largest .env file ParseEnvFile reads, in bytes.
const MaxEnvFileSize = 1 << 20

// utf8BOM is the UTF-8 encoding of the byte order mark U+FEFF.
const utf8BOM = "\xef\xbb\xbf"

// ErrInvalidEnvFile is returned by ParseEnvFile for a file that is too large
// or holds an unterminated quoted value.
var ErrInvalidEnvFile = errors.New("invalid .env file")

// Token is a raw token and where it was read from.
type Token struct {
	// Raw is the compact JWT, or empty when no token was found.
	Raw string
	// Source names the origin for messages: "STELLA_JWT" or the .env path.
	Source string
}

// LoadToken returns the token from the STELLA_JWT variable read through
// getenv, or else from the STELLA_JWT line of envFile (DefaultEnvFile when
// empty). A missing file or key returns an empty Token and no error. A file
// that cannot be read or parsed returns an error, which the caller reports as
// a warning before counting the scan as anonymous.
func LoadToken(getenv func(string) string, envFile string) (Token, error) {
	if getenv != nil {
		if raw := strings.TrimSpace(getenv(TokenEnv)); raw != "" {
			return Token{Raw: raw, Source: TokenEnv}, nil
		}
	}
	if envFile == "" {
		envFile = DefaultEnvFile
	}

	f, err := regfile.Open(envFile, "an env file of KEY=VALUE lines")
	if errors.Is(err, fs.ErrNotExist) {
		return Token{}, nil
	}
	if err != nil {
		return Token{}, fmt.Errorf("opening env file %s: %w", envFile, err)
	}
	defer f.Close()

	vars, err := ParseEnvFile(f)
	if err != nil {
		return Token{}, fmt.Errorf("reading env file %s: %w", envFile, err)
	}
	raw := strings.TrimSpace(vars[TokenEnv])
	if raw == "" {
		return Token{}, nil
	}
	return Token{Raw: raw, Source: envFile}, nil
}

// ParseEnvFile reads KEY=VALUE lines in the .env format. It drops a UTF-8
// byte order mark at the start of the input and skips blank lines, lines
// starting with '#', and lines without '='. It accepts an
// "export " prefix, and values in double quotes (with \", \\ and \n escapes),
// in single quotes (literal), or bare (trimmed, cut at " #"). A later line
// overrides an earlier one with the same key. Input over MaxEnvFileSize or an
// unterminated quote returns an error wrapping ErrInvalidEnvFile.
func ParseEnvFile(r io.Reader) (map[string]string, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxEnvFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxEnvFileSize {
		return nil, fmt.Errorf("larger than %d bytes: %w", MaxEnvFileSize, ErrInvalidEnvFile)
	}
	// Some Windows editors start UTF-8 files with a byte order mark, which
	// would otherwise become part of the first key.
	data = bytes.TrimPrefix(data, []byte(utf8BOM))

	vars := make(map[string]string)
	scanner := bufio.NewScanner(bytes.NewReader(data))
	scanner.Buffer(make([]byte, 0, 4096), MaxEnvFileSize+1)
	for lineNo := 1; scanner.Scan(); lineNo++ {
		key, value, ok, err := parseEnvLine(scanner.Text())
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		if ok {
			vars[key] = value
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	return vars, nil
}

func parseEnvLine(line string) (key, value string, ok bool, err error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return "", "", false, nil
	}
	line = strings.TrimPrefix(line, "export ")
	key, rest, found := strings.Cut(line, "=")
	key = strings.TrimSpace(key)
	if !found || key == "" || strings.ContainsAny(key, " \t") {
		return "", "", false, nil
	}

	rest = strings.TrimSpace(rest)
	switch {
	case strings.HasPrefix(rest, `"`):
		value, err = unquoteDouble(rest[1:])
		if err != nil {
			err = fmt.Errorf("value of %s: %w", key, err)
		}
	case strings.HasPrefix(rest, "'"):
		end := strings.IndexByte(rest[1:], '\'')
		if end < 0 {
			err = fmt.Errorf("value of %s has no closing single quote: %w", key, ErrInvalidEnvFile)
		} else {
			value = rest[1 : 1+end]
		}
	default:
		value, _, _ = strings.Cut(rest, " #")
		value = strings.TrimSpace(value)
	}
	if err != nil {
		return "", "", false, err
	}
	return key, value, true, nil
}

// unquoteDouble returns the text up to the closing double quote, resolving
// backslash escapes. Text after the closing quote is ignored.
func unquoteDouble(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			return b.String(), nil
		case c == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("value has no closing double quote: %w", ErrInvalidEnvFile)
}
