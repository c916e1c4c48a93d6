package sign

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"
)

func FuzzParseReferrerManifest(f *testing.F) {
	a, _ := testKeys(f)
	subject, raw := testSubject()
	ref, err := SignManifest(a.signer, subject, raw, time.Unix(0, 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ref.Manifest)
	f.Add(ref.Bundle)
	f.Add(raw)
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}}`))

	f.Fuzz(func(t *testing.T, b []byte) {
		bundleDesc, subj, err := ParseReferrerManifest(b)
		if err != nil {
			return
		}
		if bundleDesc.Digest.Validate() != nil || subj.Digest.Validate() != nil {
			t.Errorf("accepted invalid digests %q, %q", bundleDesc.Digest, subj.Digest)
		}
		if bundleDesc.Size < 0 || subj.Size < 0 {
			t.Errorf("accepted negative sizes %d, %d", bundleDesc.Size, subj.Size)
		}
	})
}

func FuzzVerifyManifestBundle(f *testing.F) {
	a, _ := testKeys(f)
	subject, raw := testSubject()
	ref, err := SignManifest(a.signer, subject, raw, time.Unix(0, 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ref.Bundle)
	f.Add(ref.Manifest)

	f.Fuzz(func(t *testing.T, b []byte) {
		// Any change to a valid bundle must fail or still carry a valid
		// signature by the one trusted key; nothing may panic.
		_, _ = VerifyManifest([]TrustedKey{a.trusted}, subject, raw, b)
	})
}

func FuzzLoadPublicKey(f *testing.F) {
	a, b := testKeys(f)
	f.Add(a.pubPEM)
	f.Add(b.pubPEM)
	f.Add(a.privPEM)
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))

	f.Fuzz(func(t *testing.T, p []byte) {
		pub, err := LoadPublicKey(p)
		if err != nil {
			return
		}
		if _, err := KeyID(pub); err != nil {
			t.Errorf("loaded key has no key ID: %v", err)
		}
	})
}

func FuzzLoadPrivateKey(f *testing.F) {
	a, _ := testKeys(f)
	f.Add(a.privPEM, testPassword)
	f.Add(a.privPEM, []byte("wrong"))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	sec1, _ := x509.MarshalECPrivateKey(key)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: PEMTypePKCS8, Bytes: pkcs8}), []byte(nil))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: PEMTypeEC, Bytes: sec1}), []byte(nil))
	f.Add(a.pubPEM, []byte(nil))

	f.Fuzz(func(t *testing.T, p, password []byte) {
		signer, err := LoadPrivateKey(p, password)
		if err != nil {
			return
		}
		if err := checkPublicKey(signer.Public()); err != nil {
			t.Errorf("loaded a key that cannot sign: %v", err)
		}
	})
}
