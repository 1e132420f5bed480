// Package s3policy parses, validates and evaluates S3 bucket policies: the IAM policy
// language as S3 accepts it on PutBucketPolicy (Version, Statement, Sid, Effect,
// Principal/NotPrincipal, Action/NotAction, Resource/NotResource, Condition).
//
// It is pure: it knows nothing of HTTP, the catalog or Stratus's request types. The caller
// describes a request (who, which action, which bucket and key, and a [Context] that
// answers condition keys) and gets back a [Decision]: None when no statement applies,
// Allow when an Allow statement applies and no Deny does, Deny when any Deny statement
// applies (an explicit Deny always wins).
//
// Invariants: a [Policy] returned by [Parse] is valid for the bucket it was parsed for and
// immutable, so it may be cached and evaluated from many goroutines. Every pattern and
// condition value is compiled at parse time; Evaluate does no JSON work and allocates at
// most the resource name it matches against.
//
// Caveats: principals are Stratus account IDs (an account is the only kind of identity);
// IAM users, roles and federated identities cannot be named, and service principals are
// accepted but never match. Policy variables (${...}, the ${*} escapes included) are
// refused in resources of 2012-10-17 policies and in string condition values; 2008-10-17
// resources take "${" literally, as IAM does.
package s3policy
