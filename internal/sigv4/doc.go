// Package sigv4 is the AWS Signature Version 4 algorithm shared by the S3 and EC2 front
// ends: credential scopes, signing keys, canonical requests (query strings and headers),
// strings to sign and the Authorization header's syntax. It holds no policy: which service
// and region a server accepts, how it finds secrets, how far a request's date may drift and
// how a failure is reported to a client are the callers' (s3api, ec2api) to decide.
//
// Beside the algorithm, FailureLimiter is the limit on failed authentications both front
// ends apply per access key and client address, before they look up a secret.
//
// No I/O, no logging, no secrets kept. Signatures are compared in constant time
// (SignatureEqual).
package sigv4
