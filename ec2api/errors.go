package ec2api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Sentinel errors. Each is returned (usually wrapped with a message by errorf) where its
// comment says, and each has exactly one row in errorTable, which gives its EC2 code and
// HTTP status. Callers match them with errors.Is.
var (
	// ErrMissingAuthenticationToken: the request carries no signature.
	ErrMissingAuthenticationToken = errors.New("ec2api: missing authentication token")
	// ErrIncompleteSignature: the Authorization header is not a well-formed SigV4 one.
	ErrIncompleteSignature = errors.New("ec2api: incomplete signature")
	// ErrAuthFailure: the access key is unknown or disabled, or the credential scope names
	// another service, region or day.
	ErrAuthFailure = errors.New("ec2api: auth failure")
	// ErrSignatureDoesNotMatch: the signature is not the one the key's secret makes.
	ErrSignatureDoesNotMatch = errors.New("ec2api: signature does not match")
	// ErrRequestExpired: the request's date is further from the server's clock than the
	// allowed skew.
	ErrRequestExpired = errors.New("ec2api: request expired")
	// ErrUnauthorizedOperation: an authenticated caller may not do this.
	ErrUnauthorizedOperation = errors.New("ec2api: unauthorized operation")
	// ErrRequestLimitExceeded: the caller or its key failed to authenticate too often, or
	// the catalog refuses to be asked faster.
	ErrRequestLimitExceeded = errors.New("ec2api: request limit exceeded")

	// ErrMissingAction: the request names no Action.
	ErrMissingAction = errors.New("ec2api: missing action")
	// ErrInvalidAction: the Action is not one this server knows.
	ErrInvalidAction = errors.New("ec2api: invalid action")
	// ErrMissingParameter: a required parameter is absent.
	ErrMissingParameter = errors.New("ec2api: missing parameter")
	// ErrInvalidParameterValue: a parameter's value is malformed or out of bounds.
	ErrInvalidParameterValue = errors.New("ec2api: invalid parameter value")
	// ErrInvalidParameterCombination: parameters that exclude each other were given together.
	ErrInvalidParameterCombination = errors.New("ec2api: invalid parameter combination")
	// ErrInvalidPaginationToken: NextToken is not one this server handed out for the call.
	ErrInvalidPaginationToken = errors.New("ec2api: invalid pagination token")
	// ErrUnsupportedOperation: a valid request for something Stratus does not do.
	ErrUnsupportedOperation = errors.New("ec2api: unsupported operation")
	// ErrDryRunOperation: DryRun was set and the request would have been carried out.
	ErrDryRunOperation = errors.New("ec2api: dry run")
	// ErrRequestTooLarge: the request body is over Config.MaxBodyBytes.
	ErrRequestTooLarge = errors.New("ec2api: request too large")

	// ErrInvalidID: a resource ID of no kind this server knows.
	ErrInvalidID = errors.New("ec2api: invalid id")
	// ErrVolumeNotFound: no volume of that ID belongs to the caller.
	ErrVolumeNotFound = errors.New("ec2api: volume not found")
	// ErrVolumeIDMalformed: a volume ID that is not vol- and 16 hex digits.
	ErrVolumeIDMalformed = errors.New("ec2api: malformed volume id")
	// ErrVolumeInUse: the volume is attached.
	ErrVolumeInUse = errors.New("ec2api: volume in use")
	// ErrIncorrectState: the resource is in a state that does not allow the operation.
	ErrIncorrectState = errors.New("ec2api: incorrect state")
	// ErrSnapshotNotFound: no snapshot of that ID belongs to the caller.
	ErrSnapshotNotFound = errors.New("ec2api: snapshot not found")
	// ErrSnapshotInUse: the snapshot may not go while volumes made from it exist or a
	// snapshot is being taken on top of it.
	ErrSnapshotInUse = errors.New("ec2api: snapshot in use")
	// ErrImageNotFound: no image of that ID is visible to the caller.
	ErrImageNotFound = errors.New("ec2api: image not found")
	// ErrInstanceNotFound: no instance of that ID belongs to the caller.
	ErrInstanceNotFound = errors.New("ec2api: instance not found")
	// ErrIncorrectInstanceState: the instance is in a state that does not allow the
	// operation (starting a terminated instance, rebooting a stopped one, …).
	ErrIncorrectInstanceState = errors.New("ec2api: incorrect instance state")
	// ErrIdempotentParameterMismatch: a ClientToken was used before with other parameters.
	ErrIdempotentParameterMismatch = errors.New("ec2api: idempotent parameter mismatch")
	// ErrAMINameDuplicate: the caller has an image of RegisterImage's Name already.
	ErrAMINameDuplicate = errors.New("ec2api: duplicate image name")
	// ErrInvalidManifest: RegisterImage's ImageLocation names no object the caller may read,
	// or one that is not an image.
	ErrInvalidManifest = errors.New("ec2api: invalid image location")
	// ErrZoneMismatch: AttachVolume of a volume in another zone than the instance's.
	ErrZoneMismatch = errors.New("ec2api: volume and instance in different zones")
	// ErrAttachmentNotFound: DetachVolume names an instance or device the volume is not
	// attached to.
	ErrAttachmentNotFound = errors.New("ec2api: attachment not found")
	// ErrKeyPairNotFound: the caller has no key pair of that name or ID.
	ErrKeyPairNotFound = errors.New("ec2api: key pair not found")
	// ErrKeyPairDuplicate: the caller has a key pair of that name already.
	ErrKeyPairDuplicate = errors.New("ec2api: key pair exists")
	// ErrInvalidKeyFormat: imported key material is not an RSA or ED25519 public key.
	ErrInvalidKeyFormat = errors.New("ec2api: invalid key format")
	// ErrInvalidInstanceType: an instance type not in the catalogue.
	ErrInvalidInstanceType = errors.New("ec2api: invalid instance type")
	// ErrTagLimitExceeded: a resource would carry more than MaxTagsPerResource tags.
	ErrTagLimitExceeded = errors.New("ec2api: tag limit exceeded")
	// ErrInsufficientInstanceCapacity: no host has room for the instance.
	ErrInsufficientInstanceCapacity = errors.New("ec2api: insufficient instance capacity")

	// ErrUnavailable: the catalog could not be reached or did not answer in time.
	ErrUnavailable = errors.New("ec2api: service unavailable")
)

// errorTable gives every sentinel its EC2 error code and HTTP status. An error that matches
// none is answered InternalError (500) and logged with its request ID.
var errorTable = []struct {
	err    error
	code   string
	status int
}{
	{ErrMissingAuthenticationToken, "MissingAuthenticationToken", http.StatusUnauthorized},
	{ErrIncompleteSignature, "IncompleteSignature", http.StatusBadRequest},
	{ErrAuthFailure, "AuthFailure", http.StatusUnauthorized},
	{ErrSignatureDoesNotMatch, "SignatureDoesNotMatch", http.StatusForbidden},
	{ErrRequestExpired, "RequestExpired", http.StatusBadRequest},
	{ErrUnauthorizedOperation, "UnauthorizedOperation", http.StatusForbidden},
	{ErrRequestLimitExceeded, "RequestLimitExceeded", http.StatusServiceUnavailable},
	{ErrMissingAction, "MissingAction", http.StatusBadRequest},
	{ErrInvalidAction, "InvalidAction", http.StatusBadRequest},
	{ErrMissingParameter, "MissingParameter", http.StatusBadRequest},
	{ErrInvalidParameterValue, "InvalidParameterValue", http.StatusBadRequest},
	{ErrInvalidParameterCombination, "InvalidParameterCombination", http.StatusBadRequest},
	{ErrInvalidPaginationToken, "InvalidPaginationToken", http.StatusBadRequest},
	{ErrUnsupportedOperation, "UnsupportedOperation", http.StatusBadRequest},
	{ErrDryRunOperation, "DryRunOperation", http.StatusPreconditionFailed},
	{ErrRequestTooLarge, "RequestEntityTooLarge", http.StatusRequestEntityTooLarge},
	{ErrInvalidID, "InvalidID", http.StatusBadRequest},
	{ErrVolumeNotFound, "InvalidVolume.NotFound", http.StatusBadRequest},
	{ErrVolumeIDMalformed, "InvalidVolumeID.Malformed", http.StatusBadRequest},
	{ErrVolumeInUse, "VolumeInUse", http.StatusBadRequest},
	{ErrIncorrectState, "IncorrectState", http.StatusBadRequest},
	{ErrSnapshotNotFound, "InvalidSnapshot.NotFound", http.StatusBadRequest},
	{ErrSnapshotInUse, "InvalidSnapshot.InUse", http.StatusBadRequest},
	{ErrImageNotFound, "InvalidAMIID.NotFound", http.StatusBadRequest},
	{ErrInstanceNotFound, "InvalidInstanceID.NotFound", http.StatusBadRequest},
	{ErrIncorrectInstanceState, "IncorrectInstanceState", http.StatusBadRequest},
	{ErrIdempotentParameterMismatch, "IdempotentParameterMismatch", http.StatusBadRequest},
	{ErrAMINameDuplicate, "InvalidAMIName.Duplicate", http.StatusBadRequest},
	{ErrInvalidManifest, "InvalidManifest", http.StatusBadRequest},
	{ErrZoneMismatch, "InvalidVolume.ZoneMismatch", http.StatusBadRequest},
	{ErrAttachmentNotFound, "InvalidAttachment.NotFound", http.StatusBadRequest},
	{ErrKeyPairNotFound, "InvalidKeyPair.NotFound", http.StatusBadRequest},
	{ErrKeyPairDuplicate, "InvalidKeyPair.Duplicate", http.StatusBadRequest},
	{ErrInvalidKeyFormat, "InvalidKey.Format", http.StatusBadRequest},
	{ErrInvalidInstanceType, "InvalidInstanceType", http.StatusBadRequest},
	{ErrTagLimitExceeded, "TagLimitExceeded", http.StatusBadRequest},
	{ErrInsufficientInstanceCapacity, "InsufficientInstanceCapacity", http.StatusInternalServerError},
	{ErrUnavailable, "Unavailable", http.StatusServiceUnavailable},
}

// Error is a sentinel with the message the client sees.
type Error struct {
	Kind    error
	Message string
	// RetryAfter, when set, is sent as Retry-After (whole seconds, at least 1).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Kind }

// errorf returns kind with a client-facing message.
func errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// apiError is what the client is told of err: its code, status and message, and whether
// it is known (an unknown error becomes InternalError, whose cause the client is not told).
func apiError(err error) (code string, status int, msg string, known bool) {
	for _, row := range errorTable {
		if errors.Is(err, row.err) {
			var e *Error
			if errors.As(err, &e) {
				msg = e.Message
			} else {
				msg = strings.TrimPrefix(row.err.Error(), "ec2api: ")
			}
			return row.code, row.status, msg, true
		}
	}
	return "InternalError", http.StatusInternalServerError, "An internal error has occurred.", false
}
