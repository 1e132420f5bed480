// Package s3api is the S3 wire contract of Stratus: request authentication (AWS Signature
// Version 4), the payload checks that go with it, S3's error codes and its XML bodies. The
// HTTP handlers that serve buckets and objects are built on these pieces and on proxy and
// meta; nothing here touches storage.
//
// A handler reads the index, then the storage nodes. A read whose version a newer write
// or a delete has replaced on the nodes in between resolves the key again and serves what
// the index names then (overtaken.go), so reads of a hot key stay linearizable and never
// fail for losing that race.
//
// Authentication: a [Verifier] checks the Authorization header or a presigned URL's query
// against secrets found through [Credentials], and returns an [Auth] whose Body is the
// payload to store: passed through (UNSIGNED-PAYLOAD), hashed and compared at EOF (a hex
// x-amz-content-sha256), or decoded from aws-chunked framing with every chunk signature,
// the trailer signature and the trailer checksums verified (the STREAMING-* modes).
// Failed authentications are counted per access key and per client address; past
// [AuthConfig].FailureLimit their requests are refused with SlowDown before any secret is
// looked up or signature computed.
//
// Invariants:
//   - A payload is authentic only once Auth.Body has returned io.EOF. Any other error means
//     the bytes read so far must be discarded: nothing may be committed from them. When the
//     length is known, the last bytes are withheld until every check has passed, so reading
//     exactly the declared length cannot skip a check.
//   - Memory per request is bounded (a 32 KiB read buffer and a few hash states); no body is
//     ever held whole, and chunk header lines are bounded.
//   - Signatures are compared in constant time. Secrets and signatures are never logged and
//     never put in error messages.
//   - Every error this package returns matches a sentinel of errors.go, and every sentinel
//     has one row in the error table, which [Lookup] and [WriteError] read.
//
// Authorization: a request that carries no signature at all is served as the anonymous
// account "" (one with a bad signature is refused). Every bucket and object handler then
// calls authorize (authorize.go) with the operation's IAM action: an explicit Deny of the
// bucket policy (policyhook.go) wins; else the bucket owner, the object or bucket ACL
// (acl.go, aclhandlers.go), or a policy Allow lets it through. Object reads decide on the
// index entry they read anyway, so the owner's plain PUT and GET cost no extra catalog
// read. Owner-only configuration handlers may use owned instead. Writes of new versions
// (PUT, copy, POST) authorize with authorizeWrite (writegrant.go): their index commit
// checks that the bucket record is still the one they were decided on, and their bytes go
// to a name of their own, so the record may come from this server's short-lived memory of
// it (bucketcache.go) and costs no catalog read.
//
// Signature Version 2 (sigv2.go) is verified too, for path-style requests, unless
// AuthConfig.DisableSigV2; it signs no payload hash, so its Body is passed through.
//
// CORS preflights (OPTIONS) are answered before authentication, since browsers never
// sign them, from the bucket's CORS rules alone (corsmatch.go); they grant no access. A
// request with an Origin header gets its CORS headers before it is authenticated, so
// that error answers carry them too.
//
// Bucket policies (bucketpolicy*.go): the document is validated by package s3policy when
// it is put and stored verbatim in the bucket record; bucketPolicyVerdict evaluates it for
// the authorization step from a parsed copy cached per bucket and document, answering
// condition keys from the request only when a statement asks. A stored document that no
// longer parses denies (fails closed).
//
// Caveats: POST policy (browser form) uploads and session tokens are not supported;
// an X-Amz-Security-Token is signed like any header but not checked.
//
// POST Object (browser form uploads, postobject.go) is authenticated before Verify by
// the form's signed policy ([Verifier.VerifyPostPolicy]); the form is read as it streams
// (postform.go): the fields before the file are bounded, the file goes to storage, and
// the file's size comes from Content-Length less the form around it.
//
// Additional checksums (x-amz-checksum-*, checksumstore.go) of PutObject and UploadPart,
// sent in a header or an aws-chunked trailer or computed here, are kept in the index entry
// once the body has ended and before a replica commits; multipart objects get S3's
// composite checksum (checksummultipart.go).
//
// Caveats: session tokens are not supported; an X-Amz-Security-Token is signed like any
// header but not checked.
package s3api
