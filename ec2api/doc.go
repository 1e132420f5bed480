// Package ec2api serves the EC2 Query API (API version 2016-11-15) over the meta catalog,
// so that unmodified EC2 clients — the aws CLI, boto3, aws-sdk-go-v2 — manage Stratus
// instances, images, volumes and their attachments, snapshots, key pairs and tags. It
// writes what is asked for into the catalog; compute hosts (computed) and volume daemons
// (volumed) carry it out: an instance is placed on a host here (scheduler.go) and its
// record's desired state is what the host drives it toward.
//
// The wire contract: a request is a GET with its parameters in the query string or a POST
// with them form-encoded in the body (Action, Version, then the action's parameters, lists
// flattened as Name.N and structures as Name.Member, see params.go), signed with SigV4 for
// service "ec2" and the server's region, with the same access keys as S3 (secrets come
// from meta's /v1/secret, which the ec2api certificate role may call). Answers are XML in
// the namespace http://ec2.amazonaws.com/doc/2016-11-15/; errors are
// <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response> with
// EC2's codes and HTTP statuses, mapped from this package's sentinels in one table
// (errors.go).
//
// Invariants: an account sees and changes only its own resources, and another account's
// resource is reported exactly as a missing one (InvalidVolume.NotFound, …); every change a
// request makes — a resource and its tags — is one catalog transaction, conditional on what
// the request checked, so a failed request changes nothing; the private key of a created
// key pair is returned once and neither stored nor logged.
//
// A compute host whose heartbeat is older than Config.LostHostHeartbeats of its intervals
// is lost (hosts.go): derived at every read, never written, so nothing is placed on it, its
// running instances' status checks say impaired and their descriptions carry a state
// reason until it beats again.
//
// Failed authentications are limited per access key and client address by the S3 port's
// limiter (sigv4.FailureLimiter), before any secret is looked up.
//
// RegisterImage reads the image object through the S3 API (Config.S3Endpoint) signed with
// the caller's own key, so only what the caller may read can be registered
// (imagelocation.go).
//
// CreateImage asks for an image of a stopped instance's root disk: it stores a pending
// image naming the instance and its host and sets the instance's CreateImage request in one
// transaction; the host saves the disk (computed/daemon/saveimage.go) and marks the image
// available. DeregisterImage marks such an image deregistered and its host removes its
// objects, which this package cannot reach (createimage.go).
//
// Caveats: signatures must be in the Authorization header (query-string signing is
// refused); a revoked access key keeps working for up to Config.KeyCacheTTL; ClientToken
// idempotency is RunInstances' only.
package ec2api
