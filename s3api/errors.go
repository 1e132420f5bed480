package s3api

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// APIError is what an S3 client sees of a failure: the error code, the HTTP status and the
// human-readable message of S3's XML error body.
type APIError struct {
	Code       string
	HTTPStatus int
	Message    string
}

// Sentinel errors. Each is returned (usually wrapped, see [Error]) where its comment says,
// and each has exactly one row in errorTable, which gives its S3 code and status. Callers
// match them with errors.Is.
var (
	// ErrNoSuchBucket is returned when the named bucket does not exist.
	ErrNoSuchBucket = errors.New("s3api: no such bucket")
	// ErrNoSuchKey is returned when the named object does not exist.
	ErrNoSuchKey = errors.New("s3api: no such key")
	// ErrNoSuchUpload is returned when a multipart upload ID is unknown, completed or aborted.
	ErrNoSuchUpload = errors.New("s3api: no such upload")
	// ErrNoSuchVersion is returned when a versionId names no version of the object.
	ErrNoSuchVersion = errors.New("s3api: no such version")
	// ErrNoSuchLifecycleConfiguration is returned when a bucket has no lifecycle configuration.
	ErrNoSuchLifecycleConfiguration = errors.New("s3api: no such lifecycle configuration")

	// ErrAccessDenied is returned when an authenticated caller may not do what it asks.
	ErrAccessDenied = errors.New("s3api: access denied")
	// ErrAnonymous is returned by Verify for a request that carries no signature at all;
	// a handler may still serve it if the resource is public.
	ErrAnonymous = errors.New("s3api: anonymous request")
	// ErrRequestExpired is returned for a presigned URL whose X-Amz-Expires has passed.
	ErrRequestExpired = errors.New("s3api: request has expired")
	// ErrRequestNotYetValid is returned for a presigned URL dated further in the future than
	// the allowed clock skew.
	ErrRequestNotYetValid = errors.New("s3api: request is not valid yet")
	// ErrMissingDate is returned when a signed request has neither X-Amz-Date nor Date.
	ErrMissingDate = errors.New("s3api: missing date")
	// ErrUnsignedHeaders is returned when an x-amz-* header is present but not signed.
	ErrUnsignedHeaders = errors.New("s3api: x-amz-* header not signed")
	// ErrSignatureDoesNotMatch is returned when a request or chunk signature is wrong.
	ErrSignatureDoesNotMatch = errors.New("s3api: signature does not match")
	// ErrInvalidAccessKeyID is returned when the access key is unknown or revoked.
	// Credentials implementations return it (wrapped or not) for such keys.
	ErrInvalidAccessKeyID = errors.New("s3api: invalid access key id")
	// ErrRequestTimeTooSkewed is returned when a header-signed request's date is more than
	// the allowed skew away from the server's clock.
	ErrRequestTimeTooSkewed = errors.New("s3api: request time too skewed")
	// ErrAuthorizationHeaderMalformed is returned when the Authorization header cannot be
	// parsed or its credential scope is wrong (date, region, service, terminator).
	ErrAuthorizationHeaderMalformed = errors.New("s3api: authorization header malformed")
	// ErrAuthorizationQueryMalformed is returned when presigned-URL query parameters are
	// missing, malformed or out of bounds (X-Amz-Expires above 7 days).
	ErrAuthorizationQueryMalformed = errors.New("s3api: authorization query parameters malformed")
	// ErrUnsupportedSignature is returned for signature schemes other than SigV4
	// (signature version 2 when turned off, POST policy forms, unknown algorithms).
	ErrUnsupportedSignature = errors.New("s3api: unsupported authorization mechanism")

	// ErrACLNotSupported is returned when a request sets an ACL on a bucket whose Object
	// Ownership is BucketOwnerEnforced (ACLs are off there).
	ErrACLNotSupported = errors.New("s3api: access control lists not supported")
	// ErrACLWithEnforcedOwnership is returned when a bucket's ACL and BucketOwnerEnforced
	// would hold together: creating such a bucket, or enforcing on a bucket that grants.
	ErrACLWithEnforcedOwnership = errors.New("s3api: bucket ACL with BucketOwnerEnforced")
	// ErrUnresolvableGrantByEmail is returned for a grant to an e-mail address: accounts
	// have none here.
	ErrUnresolvableGrantByEmail = errors.New("s3api: unresolvable grant by e-mail address")
	// ErrMalformedACL is returned when an ACL body or grant header is not one S3 takes.
	ErrMalformedACL = errors.New("s3api: malformed ACL")
	// ErrNoOwnershipControls is returned by GetBucketOwnershipControls for a bucket that
	// never had them set.
	ErrNoOwnershipControls = errors.New("s3api: no ownership controls")
	// ErrNoPublicAccessBlock is returned by GetPublicAccessBlock for a bucket without one.
	ErrNoPublicAccessBlock = errors.New("s3api: no public access block")

	// ErrInvalidBucketName is returned when a bucket name breaks S3's naming rules.
	ErrInvalidBucketName = errors.New("s3api: invalid bucket name")
	// ErrBucketNotEmpty is returned when deleting a bucket that still holds objects.
	ErrBucketNotEmpty = errors.New("s3api: bucket not empty")
	// ErrBucketAlreadyExists is returned when another account owns the bucket name.
	ErrBucketAlreadyExists = errors.New("s3api: bucket already exists")
	// ErrBucketAlreadyOwnedByYou is returned when the caller already owns the bucket.
	ErrBucketAlreadyOwnedByYou = errors.New("s3api: bucket already owned by you")
	// ErrInvalidObjectName is returned for object keys that are empty, not valid UTF-8 or
	// contain characters Stratus refuses (NUL and other control characters).
	ErrInvalidObjectName = errors.New("s3api: invalid object name")
	// ErrKeyTooLong is returned for object keys longer than 1024 bytes.
	ErrKeyTooLong = errors.New("s3api: key too long")
	// ErrMalformedPolicy is returned by PutBucketPolicy for a document S3 would refuse.
	ErrMalformedPolicy = errors.New("s3api: malformed bucket policy")
	// ErrNoSuchBucketPolicy is returned when the bucket has no bucket policy.
	ErrNoSuchBucketPolicy = errors.New("s3api: no such bucket policy")

	// ErrEntityTooSmall is returned by CompleteMultipartUpload when a part other than the
	// last is below the minimum part size.
	ErrEntityTooSmall = errors.New("s3api: entity too small")
	// ErrEntityTooLarge is returned when a body exceeds the maximum object or part size.
	ErrEntityTooLarge = errors.New("s3api: entity too large")
	// ErrInvalidPart is returned when a listed part was not uploaded or its ETag differs.
	ErrInvalidPart = errors.New("s3api: invalid part")
	// ErrInvalidPartOrder is returned when CompleteMultipartUpload's parts are not ascending.
	ErrInvalidPartOrder = errors.New("s3api: invalid part order")
	// ErrMalformedPOSTRequest: a POST Object body that is not well-formed multipart/form-data.
	ErrMalformedPOSTRequest = errors.New("s3api: malformed POST request")
	// ErrMaxPostPreData: a POST Object form whose fields before the file are too large.
	ErrMaxPostPreData = errors.New("s3api: POST fields before the file too large")
	// ErrInvalidPolicyDocument: a POST Object policy that cannot be read.
	ErrInvalidPolicyDocument = errors.New("s3api: invalid POST policy document")
	// ErrInvalidPartNumber: a GET or HEAD names a part the object does not have.
	ErrInvalidPartNumber = errors.New("s3api: invalid part number")
	// ErrInvalidRange is returned when a Range header cannot be satisfied.
	ErrInvalidRange = errors.New("s3api: invalid range")
	// ErrPreconditionFailed is returned when If-Match or If-Unmodified-Since fails.
	ErrPreconditionFailed = errors.New("s3api: precondition failed")
	// ErrNotModified is returned when If-None-Match or If-Modified-Since says the client's
	// copy is current; it is written as a bodiless 304.
	ErrNotModified = errors.New("s3api: not modified")

	// ErrInvalidTag is returned when a tag breaks S3's rules (length, characters,
	// duplicate key, "aws:" prefix).
	ErrInvalidTag = errors.New("s3api: invalid tag")
	// ErrBadRequest is returned where S3 answers BadRequest: more than 10 object tags, a
	// CORS preflight without Origin or with an unknown Access-Control-Request-Method.
	ErrBadRequest = errors.New("s3api: bad request")
	// ErrNoSuchTagSet is returned by GetBucketTagging for a bucket without tags.
	ErrNoSuchTagSet = errors.New("s3api: no such tag set")
	// ErrNoSuchCORSConfiguration is returned by GetBucketCors for a bucket without one.
	ErrNoSuchCORSConfiguration = errors.New("s3api: no such cors configuration")
	// ErrCORSForbidden is returned for a CORS preflight that the bucket's rules refuse.
	ErrCORSForbidden = errors.New("s3api: cors request not allowed")
	// ErrMalformedXML is returned when a request body is not the XML the operation takes.
	ErrMalformedXML = errors.New("s3api: malformed xml")
	// ErrInvalidLocationConstraint is returned when CreateBucket's location constraint is
	// neither this cluster's region nor a storage policy (see policyFor).
	ErrInvalidLocationConstraint = errors.New("s3api: invalid location constraint")
	// ErrInvalidArgument is returned for a bad header or query value.
	ErrInvalidArgument = errors.New("s3api: invalid argument")
	// ErrInvalidContentSHA256 is returned when x-amz-content-sha256 is neither a hex
	// SHA-256 nor one of the payload modes S3 defines.
	ErrInvalidContentSHA256 = errors.New("s3api: invalid x-amz-content-sha256")
	// ErrInvalidDigest is returned when Content-MD5 is not a base64 MD5.
	ErrInvalidDigest = errors.New("s3api: invalid digest")
	// ErrBadDigest is returned when Content-MD5 does not match the body.
	ErrBadDigest = errors.New("s3api: bad digest")
	// ErrChecksumMismatch is returned when an x-amz-checksum-* value (header or trailer)
	// does not match the body.
	ErrChecksumMismatch = errors.New("s3api: checksum mismatch")
	// ErrInvalidChecksum is returned when an x-amz-checksum-* value or x-amz-trailer
	// names an unknown algorithm or is not well-formed base64 of the right length.
	ErrInvalidChecksum = errors.New("s3api: invalid checksum")
	// ErrContentSHA256Mismatch is returned at the end of a body whose SHA-256 differs from
	// the x-amz-content-sha256 it was signed with.
	ErrContentSHA256Mismatch = errors.New("s3api: x-amz-content-sha256 mismatch")
	// ErrIncompleteBody is returned when a body ends before its declared length
	// (Content-Length or x-amz-decoded-content-length) or carries more than it.
	ErrIncompleteBody = errors.New("s3api: incomplete body")
	// ErrMalformedChunk is returned when an aws-chunked body breaks the framing: a bad
	// chunk header, a missing CRLF, an overlong line, an unexpected trailer.
	ErrMalformedChunk = errors.New("s3api: malformed aws-chunked body")
	// ErrInvalidRequest is returned for requests S3 rejects as a whole (for example a
	// streaming payload mode on a presigned URL).
	ErrInvalidRequest = errors.New("s3api: invalid request")
	// ErrMissingContentLength is returned when an upload has no length (Content-Length, or
	// x-amz-decoded-content-length for aws-chunked bodies).
	ErrMissingContentLength = errors.New("s3api: missing content length")
	// ErrRequestTimeout is returned when the client stops sending a body for too long.
	ErrRequestTimeout = errors.New("s3api: request timeout")

	// ErrObjectLockConfigurationNotFound is returned by GetObjectLockConfiguration for a
	// bucket without Object Lock.
	ErrObjectLockConfigurationNotFound = errors.New("s3api: object lock configuration not found")
	// ErrNoSuchObjectLockConfiguration is returned by GetObjectRetention and
	// GetObjectLegalHold for a version that has none.
	ErrNoSuchObjectLockConfiguration = errors.New("s3api: no object lock configuration on the object")
	// ErrInvalidBucketState is returned when a bucket's state forbids the request
	// (Object Lock without versioning, suspending versioning with Object Lock).
	ErrInvalidBucketState = errors.New("s3api: invalid bucket state")
	// ErrInvalidRetentionPeriod is returned for a default retention period above S3's limit.
	ErrInvalidRetentionPeriod = errors.New("s3api: invalid retention period")

	// ErrMethodNotAllowed is returned for an HTTP method the resource does not take.
	ErrMethodNotAllowed = errors.New("s3api: method not allowed")
	// ErrNotImplemented is returned for S3 operations Stratus does not implement.
	ErrNotImplemented = errors.New("s3api: not implemented")
	// ErrNoSuchWebsiteConfiguration, ErrNoReplicationConfiguration and
	// ErrNoEncryptionConfiguration answer reads of settings Stratus does not offer.
	ErrNoSuchWebsiteConfiguration = errors.New("s3api: no website configuration")
	ErrNoReplicationConfiguration = errors.New("s3api: no replication configuration")
	ErrNoEncryptionConfiguration  = errors.New("s3api: no server-side encryption configuration")
	// ErrInternal is returned for failures that are Stratus's fault; any error that matches
	// no row of the table is reported the same way.
	ErrInternal = errors.New("s3api: internal error")
	// ErrSlowDown is returned when the caller must reduce its request rate.
	ErrSlowDown = errors.New("s3api: slow down")
	// ErrServiceUnavailable is returned when the storage layer cannot serve the request now
	// (no quorum, no meta leader).
	ErrServiceUnavailable = errors.New("s3api: service unavailable")
)

// errorTable is the one place an error becomes an S3 code: Lookup walks it in order and the
// first row whose err matches (errors.Is) wins. Codes, statuses and default messages follow
// Amazon S3's error responses; clients branch on Code, so never rename one.
var errorTable = []struct {
	err error
	api APIError
}{
	{ErrNoSuchBucket, APIError{"NoSuchBucket", http.StatusNotFound, "The specified bucket does not exist."}},
	{ErrNoSuchKey, APIError{"NoSuchKey", http.StatusNotFound, "The specified key does not exist."}},
	{ErrNoSuchUpload, APIError{"NoSuchUpload", http.StatusNotFound, "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed."}},
	{ErrNoSuchVersion, APIError{"NoSuchVersion", http.StatusNotFound, "The specified version does not exist."}},
	{ErrNoSuchLifecycleConfiguration, APIError{"NoSuchLifecycleConfiguration", http.StatusNotFound, "The lifecycle configuration does not exist."}},

	{ErrAccessDenied, APIError{"AccessDenied", http.StatusForbidden, "Access Denied"}},
	{ErrAnonymous, APIError{"AccessDenied", http.StatusForbidden, "Access Denied"}},
	{ErrRequestExpired, APIError{"AccessDenied", http.StatusForbidden, "Request has expired"}},
	{ErrRequestNotYetValid, APIError{"AccessDenied", http.StatusForbidden, "Request is not valid yet"}},
	{ErrMissingDate, APIError{"AccessDenied", http.StatusForbidden, "AWS authentication requires a valid Date or x-amz-date header"}},
	{ErrUnsignedHeaders, APIError{"AccessDenied", http.StatusForbidden, "There were headers present in the request which were not signed"}},
	{ErrSignatureDoesNotMatch, APIError{"SignatureDoesNotMatch", http.StatusForbidden, "The request signature we calculated does not match the signature you provided. Check your key and signing method."}},
	{ErrInvalidAccessKeyID, APIError{"InvalidAccessKeyId", http.StatusForbidden, "The AWS Access Key Id you provided does not exist in our records."}},
	{ErrRequestTimeTooSkewed, APIError{"RequestTimeTooSkewed", http.StatusForbidden, "The difference between the request time and the server's time is too large."}},
	{ErrAuthorizationHeaderMalformed, APIError{"AuthorizationHeaderMalformed", http.StatusBadRequest, "The authorization header is malformed."}},
	{ErrAuthorizationQueryMalformed, APIError{"AuthorizationQueryParametersError", http.StatusBadRequest, "Error parsing the X-Amz-Credential parameter."}},
	{ErrUnsupportedSignature, APIError{"InvalidRequest", http.StatusBadRequest, "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."}},

	{ErrACLNotSupported, APIError{"AccessControlListNotSupported", http.StatusBadRequest, "The bucket does not allow ACLs"}},
	{ErrACLWithEnforcedOwnership, APIError{"InvalidBucketAclWithObjectOwnership", http.StatusBadRequest, "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"}},
	{ErrUnresolvableGrantByEmail, APIError{"UnresolvableGrantByEmailAddress", http.StatusBadRequest, "The e-mail address you provided does not match any account on record."}},
	{ErrMalformedACL, APIError{"MalformedACLError", http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema."}},
	{ErrNoOwnershipControls, APIError{"OwnershipControlsNotFoundError", http.StatusNotFound, "The bucket ownership controls were not found"}},
	{ErrNoPublicAccessBlock, APIError{"NoSuchPublicAccessBlockConfiguration", http.StatusNotFound, "The public access block configuration was not found"}},

	{ErrInvalidBucketName, APIError{"InvalidBucketName", http.StatusBadRequest, "The specified bucket is not valid."}},
	{ErrBucketNotEmpty, APIError{"BucketNotEmpty", http.StatusConflict, "The bucket you tried to delete is not empty."}},
	{ErrBucketAlreadyExists, APIError{"BucketAlreadyExists", http.StatusConflict, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."}},
	{ErrBucketAlreadyOwnedByYou, APIError{"BucketAlreadyOwnedByYou", http.StatusConflict, "Your previous request to create the named bucket succeeded and you already own it."}},
	{ErrInvalidObjectName, APIError{"InvalidArgument", http.StatusBadRequest, "Object key is not valid."}},
	{ErrKeyTooLong, APIError{"KeyTooLongError", http.StatusBadRequest, "Your key is too long."}},
	{ErrMalformedPolicy, APIError{"MalformedPolicy", http.StatusBadRequest, "Policies must be valid JSON and the first byte must be '{'"}},
	{ErrNoSuchBucketPolicy, APIError{"NoSuchBucketPolicy", http.StatusNotFound, "The bucket policy does not exist"}},

	{ErrEntityTooSmall, APIError{"EntityTooSmall", http.StatusBadRequest, "Your proposed upload is smaller than the minimum allowed object size."}},
	{ErrEntityTooLarge, APIError{"EntityTooLarge", http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed object size."}},
	{ErrInvalidPart, APIError{"InvalidPart", http.StatusBadRequest, "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag."}},
	{ErrInvalidPartOrder, APIError{"InvalidPartOrder", http.StatusBadRequest, "The list of parts was not in ascending order. Parts list must be specified in order by part number."}},
	{ErrMalformedPOSTRequest, APIError{"MalformedPOSTRequest", http.StatusBadRequest, "The body of your POST request is not well-formed multipart/form-data."}},
	{ErrMaxPostPreData, APIError{"MaxPostPreDataLengthExceededError", http.StatusBadRequest, "Your POST request fields preceding the upload file were too large."}},
	{ErrInvalidPolicyDocument, APIError{"InvalidPolicyDocument", http.StatusBadRequest, "The content of the form does not meet the conditions specified in the policy document."}},
	{ErrInvalidPartNumber, APIError{"InvalidPartNumber", http.StatusRequestedRangeNotSatisfiable, "The requested partnumber is not satisfiable"}},
	{ErrInvalidRange, APIError{"InvalidRange", http.StatusRequestedRangeNotSatisfiable, "The requested range is not satisfiable"}},
	{ErrPreconditionFailed, APIError{"PreconditionFailed", http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold"}},
	{ErrNotModified, APIError{"NotModified", http.StatusNotModified, "Not Modified"}},

	{ErrInvalidTag, APIError{"InvalidTag", http.StatusBadRequest, "The tag provided was not a valid tag."}},
	{ErrBadRequest, APIError{"BadRequest", http.StatusBadRequest, "Bad Request"}},
	{ErrNoSuchTagSet, APIError{"NoSuchTagSet", http.StatusNotFound, "The TagSet does not exist"}},
	{ErrNoSuchCORSConfiguration, APIError{"NoSuchCORSConfiguration", http.StatusNotFound, "The CORS configuration does not exist"}},
	{ErrCORSForbidden, APIError{"AccessForbidden", http.StatusForbidden, "CORSResponse: This CORS request is not allowed."}},
	{ErrMalformedXML, APIError{"MalformedXML", http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema."}},
	{ErrInvalidArgument, APIError{"InvalidArgument", http.StatusBadRequest, "Invalid Argument"}},
	{ErrInvalidLocationConstraint, APIError{"InvalidLocationConstraint", http.StatusBadRequest, "The specified location-constraint is not valid"}},
	{ErrInvalidContentSHA256, APIError{"InvalidArgument", http.StatusBadRequest, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING-* payload mode, or a hex SHA-256 of the payload."}},
	{ErrInvalidDigest, APIError{"InvalidDigest", http.StatusBadRequest, "The Content-MD5 you specified is not valid."}},
	{ErrBadDigest, APIError{"BadDigest", http.StatusBadRequest, "The Content-MD5 you specified did not match what we received."}},
	{ErrChecksumMismatch, APIError{"BadDigest", http.StatusBadRequest, "The checksum you specified did not match the calculated checksum."}},
	{ErrInvalidChecksum, APIError{"InvalidRequest", http.StatusBadRequest, "The checksum header or trailer is not valid."}},
	{ErrContentSHA256Mismatch, APIError{"XAmzContentSHA256Mismatch", http.StatusBadRequest, "The provided 'x-amz-content-sha256' header does not match what was computed."}},
	{ErrIncompleteBody, APIError{"IncompleteBody", http.StatusBadRequest, "You did not provide the number of bytes specified by the Content-Length HTTP header."}},
	{ErrMalformedChunk, APIError{"IncompleteBody", http.StatusBadRequest, "The request body is not valid aws-chunked encoding."}},
	{ErrInvalidRequest, APIError{"InvalidRequest", http.StatusBadRequest, "Invalid Request"}},
	{ErrMissingContentLength, APIError{"MissingContentLength", http.StatusLengthRequired, "You must provide the Content-Length HTTP header."}},
	{ErrRequestTimeout, APIError{"RequestTimeout", http.StatusBadRequest, "Your socket connection to the server was not read from or written to within the timeout period."}},

	{ErrObjectLockConfigurationNotFound, APIError{"ObjectLockConfigurationNotFoundError", http.StatusNotFound, "Object Lock configuration does not exist for this bucket"}},
	{ErrNoSuchObjectLockConfiguration, APIError{"NoSuchObjectLockConfiguration", http.StatusNotFound, "The specified object does not have a ObjectLock configuration"}},
	{ErrInvalidBucketState, APIError{"InvalidBucketState", http.StatusConflict, "The request is not valid with the current state of the bucket."}},
	{ErrInvalidRetentionPeriod, APIError{"InvalidRetentionPeriod", http.StatusBadRequest, "The retention period is not valid."}},

	{ErrMethodNotAllowed, APIError{"MethodNotAllowed", http.StatusMethodNotAllowed, "The specified method is not allowed against this resource."}},
	{ErrNoSuchWebsiteConfiguration, APIError{"NoSuchWebsiteConfiguration", http.StatusNotFound, "The specified bucket does not have a website configuration"}},
	{ErrNoReplicationConfiguration, APIError{"ReplicationConfigurationNotFoundError", http.StatusNotFound, "The replication configuration was not found"}},
	{ErrNoEncryptionConfiguration, APIError{"ServerSideEncryptionConfigurationNotFoundError", http.StatusNotFound, "The server side encryption configuration was not found"}},
	{ErrNotImplemented, APIError{"NotImplemented", http.StatusNotImplemented, "A header you provided implies functionality that is not implemented."}},
	{ErrInternal, apiInternal},
	{ErrSlowDown, APIError{"SlowDown", http.StatusServiceUnavailable, "Please reduce your request rate."}},
	{ErrServiceUnavailable, APIError{"ServiceUnavailable", http.StatusServiceUnavailable, "The service is unavailable. Please retry."}},
}

var apiInternal = APIError{"InternalError", http.StatusInternalServerError, "We encountered an internal error. Please try again."}

// Error adds request-specific detail to a sentinel: Message replaces the table's message in
// the response (so it must never hold secrets or signatures). errors.Is(e, e.Err) holds.
// ArgumentName and ArgumentValue, for an InvalidArgument, name the request's argument at
// fault and what it held, which S3 returns as elements of their own.
type Error struct {
	Err           error
	Message       string
	ArgumentName  string
	ArgumentValue string
}

// Error implements error.
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + ": " + e.Message
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// SlowDownError is ErrSlowDown with the time after which the client may try again, which
// WriteError sends as Retry-After. errors.Is(e, ErrSlowDown) holds.
type SlowDownError struct {
	RetryAfter time.Duration
}

// Error implements error. It names no key or address: it may be logged.
func (e *SlowDownError) Error() string {
	return ErrSlowDown.Error() + "; retry after " + e.RetryAfter.String()
}

// Unwrap returns ErrSlowDown.
func (e *SlowDownError) Unwrap() error { return ErrSlowDown }

// retryAfterSeconds renders d as Retry-After does: whole seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	secs := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(secs, 1), 10)
}

// errorf wraps sentinel with a client-visible message.
func errorf(sentinel error, message string) error {
	return &Error{Err: sentinel, Message: message}
}

// maxArgumentValue bounds the value an error echoes back.
const maxArgumentValue = 256

// argumentError is an InvalidArgument with message about the argument name, which held
// value (echoed, cut to maxArgumentValue bytes).
func argumentError(name, value, message string) error {
	if len(value) > maxArgumentValue {
		value = value[:maxArgumentValue]
	}
	return &Error{Err: ErrInvalidArgument, Message: message, ArgumentName: name, ArgumentValue: value}
}

// Lookup returns the S3 error for err. ok is false when the answer is InternalError (err
// matched no row, or matched ErrInternal): the caller should then log err with the request
// ID, since the client is told nothing useful. The message is the table's unless err carries
// an [Error] with a Message.
func Lookup(err error) (api APIError, ok bool) {
	for _, row := range errorTable {
		if errors.Is(err, row.err) {
			api = row.api
			var detail *Error
			if errors.As(err, &detail) && detail.Message != "" && errors.Is(detail, row.err) {
				api.Message = detail.Message
			}
			return api, row.err != ErrInternal
		}
	}
	return apiInternal, false
}
