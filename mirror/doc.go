// Package mirror moves kits and their images between the content store and
// OCI registries, and reads kits from intranet web servers.
//
// It pushes a kit's bundle index graph to a registry with its signature and
// SBOM attached as referrers. It opens a registry tag as an oras-go source
// for the importer and copies a kit's images into a site registry at their
// original digests. It also streams a kit over HTTP(S), resuming an
// interrupted transfer with range requests.
//
// Every HTTP client built here goes through the same chain of round
// trippers:
//
//	auth.Client (credentials from the docker config or the command line)
//	  -> retry.Transport (backoff on connection resets, 408, 429 and 5xx)
//	    -> Guard (air-gap mode: only hosts the operator named)
//	      -> timeoutTransport (ends a request whose server sends or accepts
//	         no bytes for the idle timeout)
//	        -> http.Transport (TLS settings and connect timeouts from
//	           ClientOptions)
//
// Failures in the middle of a body cannot be retried by a round tripper, so
// whole operations are retried too: a push skips the blobs the registry
// already holds and a pull resumes a blob with a range request. Timeouts are
// retried only there, so that the waits of the two retries do not multiply.
// A 408, 429 or 5xx response is retried only by retry.Transport, unless the
// request body is a stream that it cannot send again: such a blob upload is
// retried with the operation instead. A read-back of a tag for the message
// of a failed push or mirror skips retry.Transport (withoutRetries), so it
// is sent once.
package mirror
