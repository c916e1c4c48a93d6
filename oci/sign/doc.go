// Package sign creates and checks the signatures of kits, offline.
//
// Keys use cosign's formats, so `cosign generate-key-pair` keys work here
// and keys made here work with cosign. A kit carries two kinds of signature:
//
//   - a detached signature over the kit file (SignBlob, VerifyBlob), the
//     base64 ASN.1 text that `cosign verify-blob --key` accepts;
//   - an OCI 1.1 referrer of the bundle index (SignManifest, VerifyManifest),
//     an image manifest whose single layer is a sigstore bundle v0.3 holding
//     a message signature over the bundle index bytes.
//
// Verification uses only the trusted public keys: no transparency log, no
// certificate authority and no network.
package sign
