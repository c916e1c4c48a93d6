package sign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"stella-ops.org/ouk/internal/errdef"
	"stella-ops.org/ouk/oci"
)

var testPassword = []byte("correct horse battery staple")

type testKeyPair struct {
	privPEM, pubPEM []byte
	signer          crypto.Signer
	trusted         TrustedKey
}

var (
	keyPairsOnce sync.Once
	keyPairs     [2]testKeyPair
)

// testKeys returns two encrypted key pairs, generated once per test binary
// because scrypt makes each one slow.
func testKeys(t testing.TB) (a, b testKeyPair) {
	t.Helper()
	keyPairsOnce.Do(func() {
		for i := range keyPairs {
			priv, pub, err := GenerateKeyPair(testPassword)
			if err != nil {
				panic(err)
			}
			signer, err := LoadPrivateKey(priv, testPassword)
			if err != nil {
				panic(err)
			}
			pk, err := LoadPublicKey(pub)
			if err != nil {
				panic(err)
			}
			id, err := KeyID(pk)
			if err != nil {
				panic(err)
			}
			keyPairs[i] = testKeyPair{priv, pub, signer, TrustedKey{ID: id, Key: pk, Source: "key" + string(rune('A'+i))}}
		}
	})
	return keyPairs[0], keyPairs[1]
}

func TestGenerateKeyPairFormat(t *testing.T) {
	a, _ := testKeys(t)

	block, rest := pem.Decode(a.privPEM)
	if block == nil || block.Type != PEMTypeEncryptedSigstore {
		t.Fatalf("private key PEM block = %v, want type %q", block, PEMTypeEncryptedSigstore)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		t.Errorf("private key PEM has trailing data %q", rest)
	}
	var sealed struct {
		KDF    struct{ Name string }
		Cipher struct{ Name string }
	}
	if err := json.Unmarshal(block.Bytes, &sealed); err != nil {
		t.Fatalf("encrypted key is not JSON: %v", err)
	}
	if sealed.KDF.Name != "scrypt" {
		t.Errorf("kdf = %q, want scrypt", sealed.KDF.Name)
	}
	if sealed.Cipher.Name != "nacl/secretbox" {
		t.Errorf("cipher = %q, want nacl/secretbox", sealed.Cipher.Name)
	}

	pubBlock, _ := pem.Decode(a.pubPEM)
	if pubBlock == nil || pubBlock.Type != PEMTypePublic {
		t.Fatalf("public key PEM block = %v, want type %q", pubBlock, PEMTypePublic)
	}
	pk, ok := a.trusted.Key.(*ecdsa.PublicKey)
	if !ok || pk.Curve != elliptic.P256() {
		t.Errorf("public key = %T, want ECDSA P-256", a.trusted.Key)
	}
	if !a.signer.Public().(*ecdsa.PublicKey).Equal(pk) {
		t.Error("private key does not match public key")
	}
}

func TestLoadPrivateKeyWrongPassword(t *testing.T) {
	a, _ := testKeys(t)
	_, err := LoadPrivateKey(a.privPEM, []byte("wrong"))
	if !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("err = %v, want ErrWrongPassword", err)
	}
	if !strings.Contains(err.Error(), "password") {
		t.Errorf("message %q does not mention the password", err)
	}
}

func TestLoadPrivateKeyLegacyCosignType(t *testing.T) {
	a, _ := testKeys(t)
	block, _ := pem.Decode(a.privPEM)
	legacy := pem.EncodeToMemory(&pem.Block{Type: PEMTypeEncryptedCosign, Bytes: block.Bytes})
	signer, err := LoadPrivateKey(legacy, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if !signer.Public().(*ecdsa.PublicKey).Equal(a.trusted.Key) {
		t.Error("legacy key does not match public key")
	}
}

func TestLoadPrivateKeyUnencrypted(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string][]byte{
		"pkcs8": pem.EncodeToMemory(&pem.Block{Type: PEMTypePKCS8, Bytes: pkcs8}),
		"sec1":  pem.EncodeToMemory(&pem.Block{Type: PEMTypeEC, Bytes: sec1}),
	} {
		t.Run(name, func(t *testing.T) {
			signer, err := LoadPrivateKey(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !signer.Public().(*ecdsa.PublicKey).Equal(&key.PublicKey) {
				t.Error("loaded key differs from the generated one")
			}
		})
	}
}

func TestLoadPrivateKeyRejects(t *testing.T) {
	for name, in := range map[string][]byte{
		"empty":      nil,
		"public key": pem.EncodeToMemory(&pem.Block{Type: PEMTypePublic, Bytes: []byte{1}}),
		"bad pkcs8":  pem.EncodeToMemory(&pem.Block{Type: PEMTypePKCS8, Bytes: []byte{1, 2}}),
		"bad sealed": pem.EncodeToMemory(&pem.Block{Type: PEMTypeEncryptedSigstore, Bytes: []byte("{}")}),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := LoadPrivateKey(in, testPassword); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestLoadPublicKeyRejectsPrivate(t *testing.T) {
	a, _ := testKeys(t)
	_, err := LoadPublicKey(a.privPEM)
	if err == nil {
		t.Fatal("a private key loaded as public key")
	}
	if !strings.Contains(err.Error(), "contains a private key") {
		t.Errorf("error does not state that the file contains a private key: %v", err)
	}
	if !strings.Contains(err.Error(), "cosign.pub") {
		t.Errorf("error does not name the public key cosign.pub: %v", err)
	}
}

func TestLoadPrivateKeyRejectsPublic(t *testing.T) {
	a, _ := testKeys(t)
	_, err := LoadPrivateKey(a.pubPEM, testPassword)
	if err == nil {
		t.Fatal("a public key loaded as private key")
	}
	if !strings.Contains(err.Error(), "contains a public key") {
		t.Errorf("error does not state that the file contains a public key: %v", err)
	}
	if !strings.Contains(err.Error(), "cosign.key") {
		t.Errorf("error does not name the private key cosign.key: %v", err)
	}
}

func TestLoadTrustedKeysPrivateNamesPub(t *testing.T) {
	a, _ := testKeys(t)
	dir := t.TempDir()
	priv := filepath.Join(dir, "cosign.key")
	if err := os.WriteFile(priv, a.privPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadTrustedKeys([]string{priv}, nil)
	if err == nil {
		t.Fatal("a private key loaded as trusted key")
	}
	pub := filepath.Join(dir, "cosign.pub")
	if strings.Contains(err.Error(), "the public key beside it") {
		t.Errorf("error names a public key file that does not exist: %v", err)
	}
	if err := os.WriteFile(pub, a.pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadTrustedKeys([]string{priv}, nil)
	if err == nil || !strings.Contains(err.Error(), "the public key beside it is "+pub) {
		t.Errorf("error does not name the public key beside the private one: %v", err)
	}
}

func TestSignBlobRoundTrip(t *testing.T) {
	a, b := testKeys(t)
	data := []byte("kit bytes")
	sig, err := SignBlob(a.signer, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := base64.StdEncoding.DecodeString(string(sig)); err != nil {
		t.Fatalf("signature is not base64: %v", err)
	}

	key, err := VerifyBlob([]TrustedKey{b.trusted, a.trusted}, bytes.NewReader(data), append(sig, '\n'))
	if err != nil {
		t.Fatal(err)
	}
	if key.ID != a.trusted.ID {
		t.Errorf("verified by %s, want %s", key.ID, a.trusted.ID)
	}

	raw, _ := base64.StdEncoding.DecodeString(string(sig))
	if _, err := VerifyBlob([]TrustedKey{a.trusted}, bytes.NewReader(data), raw); err != nil {
		t.Errorf("raw ASN.1 signature: %v", err)
	}
}

func TestVerifyBlobFailures(t *testing.T) {
	a, b := testKeys(t)
	data := []byte("kit bytes")
	sig, err := SignBlob(a.signer, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		keys []TrustedKey
		data []byte
		sig  []byte
	}{
		"wrong key":     {[]TrustedKey{b.trusted}, data, sig},
		"no keys":       {nil, data, sig},
		"tampered data": {[]TrustedKey{a.trusted}, []byte("kit bytez"), sig},
		"not base64":    {[]TrustedKey{a.trusted}, data, []byte("%%%")},
		"empty":         {[]TrustedKey{a.trusted}, data, []byte(" \n")},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := VerifyBlob(c.keys, bytes.NewReader(c.data), c.sig)
			if !errors.Is(err, errdef.ErrSignature) {
				t.Fatalf("err = %v, want ErrSignature", err)
			}
		})
	}
}

func TestSignBlobRSA(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := SignBlob(key, strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := KeyID(&key.PublicKey)
	if _, err := VerifyBlob([]TrustedKey{{ID: id, Key: &key.PublicKey}}, strings.NewReader("x"), sig); err != nil {
		t.Fatal(err)
	}
}

// testSubject returns a bundle-index-like subject and its bytes.
func testSubject() (ocispec.Descriptor, []byte) {
	raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	return ocispec.Descriptor{
		MediaType:    ocispec.MediaTypeImageIndex,
		ArtifactType: oci.ArtifactTypeBundle,
		Digest:       digest.FromBytes(raw),
		Size:         int64(len(raw)),
		Annotations:  map[string]string{"x": "y"},
	}, raw
}

func TestSignManifestRoundTrip(t *testing.T) {
	a, b := testKeys(t)
	subject, raw := testSubject()
	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("X", 3600))

	ref, err := SignManifest(a.signer, subject, raw, created)
	if err != nil {
		t.Fatal(err)
	}

	bundleDesc, gotSubject, err := ParseReferrerManifest(ref.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if bundleDesc.Digest != ref.BundleDesc.Digest || bundleDesc.Digest != digest.FromBytes(ref.Bundle) {
		t.Errorf("bundle layer %s, bundle desc %s, bundle bytes %s", bundleDesc.Digest, ref.BundleDesc.Digest, digest.FromBytes(ref.Bundle))
	}
	if gotSubject.Digest != subject.Digest || gotSubject.Size != subject.Size {
		t.Errorf("subject = %+v, want %+v", gotSubject, subject)
	}
	if gotSubject.Annotations != nil {
		t.Errorf("subject annotations copied: %v", gotSubject.Annotations)
	}

	key, err := VerifyManifest([]TrustedKey{b.trusted, a.trusted}, subject, raw, ref.Bundle)
	if err != nil {
		t.Fatal(err)
	}
	if key.ID != a.trusted.ID {
		t.Errorf("verified by %s, want %s", key.ID, a.trusted.ID)
	}
}

func TestSignManifestReferrerShape(t *testing.T) {
	a, _ := testKeys(t)
	subject, raw := testSubject()
	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("X", 3600))
	ref, err := SignManifest(a.signer, subject, raw, created)
	if err != nil {
		t.Fatal(err)
	}

	var m ocispec.Manifest
	if err := json.Unmarshal(ref.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	if m.ArtifactType != oci.MediaTypeSigstoreBundle {
		t.Errorf("artifactType = %q", m.ArtifactType)
	}
	if m.Config.Digest != ocispec.DescriptorEmptyJSON.Digest || string(ref.Config) != "{}" {
		t.Errorf("config = %+v, bytes %q", m.Config, ref.Config)
	}
	if got := m.Annotations[oci.AnnotationCreated]; got != "2025-03-01T11:00:00Z" {
		t.Errorf("created = %q, want 2025-03-01T11:00:00Z", got)
	}
	if ref.ManifestDesc.Digest != digest.FromBytes(ref.Manifest) ||
		ref.ManifestDesc.MediaType != ocispec.MediaTypeImageManifest ||
		ref.ManifestDesc.ArtifactType != oci.MediaTypeSigstoreBundle {
		t.Errorf("manifest descriptor = %+v", ref.ManifestDesc)
	}

	var bundle map[string]any
	if err := json.Unmarshal(ref.Bundle, &bundle); err != nil {
		t.Fatal(err)
	}
	if bundle["mediaType"] != oci.MediaTypeSigstoreBundle {
		t.Errorf("bundle mediaType = %v", bundle["mediaType"])
	}
	if _, ok := bundle["messageSignature"]; !ok {
		t.Errorf("bundle has no messageSignature: %s", ref.Bundle)
	}
}

func TestVerifyManifestFailures(t *testing.T) {
	a, b := testKeys(t)
	subject, raw := testSubject()
	ref, err := SignManifest(a.signer, subject, raw, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}

	tampered := bytes.Replace(raw, []byte(`"manifests":[]`), []byte(`"manifests":[ ]`), 1)
	tamperedSubject := subject
	tamperedSubject.Digest = digest.FromBytes(tampered)
	tamperedSubject.Size = int64(len(tampered))

	cases := map[string]struct {
		keys    []TrustedKey
		subject ocispec.Descriptor
		raw     []byte
		bundle  []byte
	}{
		"wrong key":                {[]TrustedKey{b.trusted}, subject, raw, ref.Bundle},
		"tampered subject bytes":   {[]TrustedKey{a.trusted}, subject, tampered, ref.Bundle},
		"bundle for other subject": {[]TrustedKey{a.trusted}, tamperedSubject, tampered, ref.Bundle},
		"not a bundle":             {[]TrustedKey{a.trusted}, subject, raw, []byte(`{"a":1}`)},
		"manifest instead":         {[]TrustedKey{a.trusted}, subject, raw, ref.Manifest},
		"no keys":                  {nil, subject, raw, ref.Bundle},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := VerifyManifest(c.keys, c.subject, c.raw, c.bundle)
			if !errors.Is(err, errdef.ErrSignature) {
				t.Fatalf("err = %v, want ErrSignature", err)
			}
		})
	}
}

func TestVerifyManifestTamperedSignature(t *testing.T) {
	a, _ := testKeys(t)
	subject, raw := testSubject()
	ref, err := SignManifest(a.signer, subject, raw, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(ref.Bundle, &doc); err != nil {
		t.Fatal(err)
	}
	msg := doc["messageSignature"].(map[string]any)
	sig, _ := base64.StdEncoding.DecodeString(msg["signature"].(string))
	sig[len(sig)-1] ^= 1
	msg["signature"] = base64.StdEncoding.EncodeToString(sig)
	bad, _ := json.Marshal(doc)

	if _, err := VerifyManifest([]TrustedKey{a.trusted}, subject, raw, bad); !errors.Is(err, errdef.ErrSignature) {
		t.Fatalf("err = %v, want ErrSignature", err)
	}
}

func TestParseReferrerManifestRejects(t *testing.T) {
	a, _ := testKeys(t)
	subject, raw := testSubject()
	ref, err := SignManifest(a.signer, subject, raw, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(m *ocispec.Manifest)) []byte {
		var m ocispec.Manifest
		if err := json.Unmarshal(ref.Manifest, &m); err != nil {
			t.Fatal(err)
		}
		f(&m)
		b, _ := json.Marshal(m)
		return b
	}
	cases := map[string]struct {
		in   []byte
		want error
	}{
		"not json":      {[]byte("nope"), errdef.ErrInvalidKit},
		"index":         {edit(func(m *ocispec.Manifest) { m.MediaType = ocispec.MediaTypeImageIndex }), errdef.ErrInvalidKit},
		"artifact type": {edit(func(m *ocispec.Manifest) { m.ArtifactType = oci.MediaTypeSPDX }), errdef.ErrSignature},
		"no subject":    {edit(func(m *ocispec.Manifest) { m.Subject = nil }), errdef.ErrInvalidKit},
		"two layers":    {edit(func(m *ocispec.Manifest) { m.Layers = append(m.Layers, m.Layers[0]) }), errdef.ErrInvalidKit},
		"no layers":     {edit(func(m *ocispec.Manifest) { m.Layers = nil }), errdef.ErrInvalidKit},
		"layer type":    {edit(func(m *ocispec.Manifest) { m.Layers[0].MediaType = "text/plain" }), errdef.ErrInvalidKit},
		"bad digest":    {edit(func(m *ocispec.Manifest) { m.Subject.Digest = "sha256:zz" }), errdef.ErrInvalidKit},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := ParseReferrerManifest(c.in)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestLoadTrustedKeys(t *testing.T) {
	a, b := testKeys(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("b.pub", b.pubPEM)
	write("a.pub", a.pubPEM)
	write("cosign.key", a.privPEM) // not *.pub, so skipped
	extra := filepath.Join(t.TempDir(), "extra.pem")
	if err := os.WriteFile(extra, a.pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}

	keys, err := LoadTrustedKeys([]string{extra}, []string{dir, filepath.Join(dir, "absent")})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("got %d keys, want 2 (duplicate dropped): %+v", len(keys), keys)
	}
	if keys[0].ID != a.trusted.ID || keys[0].Source != extra {
		t.Errorf("keys[0] = %s from %s, want %s from %s", keys[0].ID, keys[0].Source, a.trusted.ID, extra)
	}
	if keys[1].ID != b.trusted.ID || keys[1].Source != filepath.Join(dir, "b.pub") {
		t.Errorf("keys[1] = %s from %s, want b.pub", keys[1].ID, keys[1].Source)
	}

	// A file of the folder that contains no key is left out with its
	// reason, and the other keys there still load. The same file named on
	// its own is an error.
	bad := write("z.pub", []byte("not a key"))
	keys, skipped, err := LoadTrustedKeysFrom(nil, []string{dir})
	if err != nil {
		t.Fatalf("a folder with one file that holds no key: %v", err)
	}
	if len(keys) != 2 {
		t.Errorf("got %d keys beside the bad file, want 2", len(keys))
	}
	if len(skipped) != 1 || skipped[0].Path != bad || skipped[0].Err == nil || skipped[0].Type != "" {
		t.Errorf("skipped = %+v, want z.pub with its error", skipped)
	}
	if _, err := LoadTrustedKeys([]string{bad}, nil); err == nil || !strings.Contains(err.Error(), "z.pub") {
		t.Errorf("err = %v, want an error naming z.pub", err)
	}
	if _, err := LoadTrustedKeys([]string{filepath.Join(dir, "missing.pub")}, nil); err == nil {
		t.Error("a missing key file gave no error")
	}
}

// A hidden key file, which ls and *.pub do not show, is not trusted, so
// that a review of the folder finds every trusted key.
func TestLoadTrustedKeysSkipsHiddenFile(t *testing.T) {
	a, _ := testKeys(t)
	dir := t.TempDir()
	hidden := filepath.Join(dir, ".a.pub")
	if err := os.WriteFile(hidden, a.pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	keys, skipped, err := LoadTrustedKeysFrom(nil, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("got %d keys from a hidden file, want none", len(keys))
	}
	if len(skipped) != 1 || skipped[0].Path != hidden || skipped[0].Err == nil ||
		!strings.Contains(skipped[0].Err.Error(), "starts with a dot") {
		t.Errorf("skipped = %+v, want the hidden file with its reason", skipped)
	}
}

// Only the first PEM block of a key file is read, and the count of the
// others lets the caller warn that their keys are not trusted.
func TestLoadTrustedKeysCountsExtraBlocks(t *testing.T) {
	a, b := testKeys(t)
	both := filepath.Join(t.TempDir(), "both.pub")
	if err := os.WriteFile(both, append(append([]byte{}, a.pubPEM...), b.pubPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	keys, err := LoadTrustedKeys([]string{both}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].ID != a.trusted.ID {
		t.Fatalf("keys = %+v, want only the first key", keys)
	}
	if keys[0].ExtraBlocks != 1 {
		t.Errorf("ExtraBlocks = %d, want 1", keys[0].ExtraBlocks)
	}
}

func TestKeyIDMatchesOpenSSLStyleDigest(t *testing.T) {
	a, _ := testKeys(t)
	block, _ := pem.Decode(a.pubPEM)
	if want := digest.FromBytes(block.Bytes).Encoded(); a.trusted.ID != want {
		t.Errorf("KeyID = %s, want %s", a.trusted.ID, want)
	}
}

// TestVerifyBlobRawSignatureEndingInSpace checks a raw ASN.1 signature whose
// last byte is a white-space byte, which trimming would cut off.
func TestVerifyBlobRawSignatureEndingInSpace(t *testing.T) {
	a, _ := testKeys(t)
	data := []byte("kit bytes")
	for range 5000 {
		sig, err := SignBlob(a.signer, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.StdEncoding.DecodeString(string(sig))
		if last := raw[len(raw)-1]; !bytes.ContainsRune([]byte(" \t\n\v\f\r"), rune(last)) {
			continue
		}
		if _, err := VerifyBlob([]TrustedKey{a.trusted}, bytes.NewReader(data), raw); err != nil {
			t.Fatalf("raw signature ending in byte %#x: %v", raw[len(raw)-1], err)
		}
		if _, err := VerifyBlob([]TrustedKey{a.trusted}, bytes.NewReader(data), append(raw, '\n')); err != nil {
			t.Fatalf("raw signature ending in byte %#x, then a newline: %v", raw[len(raw)-1], err)
		}
		return
	}
	t.Skip("no signature of 5000 ended in a white-space byte")
}

func TestKeyNamesGivesFilesAndIDs(t *testing.T) {
	keys := []TrustedKey{{ID: "e392ee311741abcdef", Source: "keys/cosign.pub"}, {ID: "0123456789abcdef"}}
	if got, want := KeyNames(keys), "keys/cosign.pub (ID e392ee311741), ID 0123456789ab"; got != want {
		t.Errorf("KeyNames = %q, want %q", got, want)
	}
}

func TestVerifyBlobMalformedSignature(t *testing.T) {
	a, _ := testKeys(t)
	publicKey := []byte("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n")
	cases := []struct {
		name, sig, problem string
	}{
		{"empty", "", "it is empty"},
		{"white space", " \n", "it is empty"},
		{"text", "not a signature at all\n", "it is text, but not base64"},
		{"public key", string(publicKey), `it is a PEM block of type "PUBLIC KEY"`},
		{"bad base64", "QUJD=", "its base64 does not decode"},
		// "hello" in base64 decodes, but to no ECDSA signature.
		{"base64 of text", "aGVsbG8=", "its base64 decodes to 5 bytes, which are no ECDSA signature"},
		// A kit file given in place of its signature is binary data.
		{"binary", "\x28\xb5\x2f\xfd\x00\x01\x02\xff", "it is 8 bytes of binary data, which are no ECDSA signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := VerifyBlob([]TrustedKey{a.trusted}, strings.NewReader("kit bytes"), []byte(c.sig))
			var malformed *MalformedSignatureError
			if !errors.As(err, &malformed) {
				t.Fatalf("err = %v, want a MalformedSignatureError", err)
			}
			if !strings.Contains(malformed.Problem, c.problem) {
				t.Errorf("problem %q lacks %q", malformed.Problem, c.problem)
			}
			if !errors.Is(err, errdef.ErrSignature) {
				t.Errorf("err = %v, want ErrSignature", err)
			}
		})
	}
}

func TestVerifyBlobKeyMismatchNotMalformed(t *testing.T) {
	a, b := testKeys(t)
	sig, err := SignBlob(a.signer, strings.NewReader("kit bytes"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = VerifyBlob([]TrustedKey{b.trusted}, strings.NewReader("kit bytes"), sig)
	if errors.As(err, new(*MalformedSignatureError)) {
		t.Errorf("a signature by another key is reported as malformed: %v", err)
	}
	if !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("err = %v, want ErrKeyMismatch", err)
	}
}

// A public key file without PEM data is named as such, in words that fit
// a kit key and a token issuer key alike.
func TestLoadPublicKeyWithoutPEM(t *testing.T) {
	_, err := LoadPublicKey([]byte("not a key\n"))
	if err == nil || !strings.Contains(err.Error(), "expected a PEM public key file") {
		t.Errorf("LoadPublicKey of text: %v, want a PEM public key asked for", err)
	}
}
