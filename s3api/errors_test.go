package s3api

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// TestErrorTable walks the table: every row has a code, an error status and a message;
// every sentinel errors.go declares has exactly one row, and every row's sentinel maps to
// that row.
func TestErrorTable(t *testing.T) {
	rows := map[error]int{}
	for i, row := range errorTable {
		if row.err == nil {
			t.Fatalf("row %d has no error", i)
		}
		if _, dup := rows[row.err]; dup {
			t.Errorf("%v has two rows", row.err)
		}
		rows[row.err] = i
		api := row.api
		if api.Code == "" || api.Message == "" || strings.ContainsAny(api.Code, " \n<>&") {
			t.Errorf("%v: bad row %+v", row.err, api)
		}
		if api.HTTPStatus != http.StatusNotModified && (api.HTTPStatus < 400 || api.HTTPStatus > 599) {
			t.Errorf("%v: status %d is not an error status", row.err, api.HTTPStatus)
		}
		if http.StatusText(api.HTTPStatus) == "" {
			t.Errorf("%v: status %d is not an HTTP status", row.err, api.HTTPStatus)
		}
		got, ok := Lookup(fmt.Errorf("some layer: %w", row.err))
		if got != api {
			t.Errorf("Lookup(wrapped %v) = %+v, want %+v", row.err, got, api)
		}
		if ok != (row.err != ErrInternal) {
			t.Errorf("Lookup(%v) ok = %v", row.err, ok)
		}
	}

	// Every Err* variable of errors.go is in the table.
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	byName := sentinelsByName()
	declared := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.VAR {
			continue
		}
		for _, spec := range g.Specs {
			for _, name := range spec.(*ast.ValueSpec).Names {
				if !strings.HasPrefix(name.Name, "Err") {
					continue
				}
				declared++
				e, known := byName[name.Name]
				if !known {
					t.Errorf("%s is declared in errors.go but missing from sentinelsByName in this test", name.Name)
					continue
				}
				if _, ok := rows[e]; !ok {
					t.Errorf("%s has no row in errorTable", name.Name)
				}
			}
		}
	}
	if declared != len(errorTable) {
		t.Errorf("errors.go declares %d sentinels, the table has %d rows", declared, len(errorTable))
	}
}

// sentinelsByName names every sentinel, so the table test can tie declarations to values.
func sentinelsByName() map[string]error {
	return map[string]error{
		"ErrNoSuchWebsiteConfiguration": ErrNoSuchWebsiteConfiguration, "ErrNoReplicationConfiguration": ErrNoReplicationConfiguration,
		"ErrNoEncryptionConfiguration": ErrNoEncryptionConfiguration,
		"ErrNoSuchBucket":              ErrNoSuchBucket, "ErrNoSuchKey": ErrNoSuchKey, "ErrNoSuchUpload": ErrNoSuchUpload,
		"ErrNoSuchVersion": ErrNoSuchVersion, "ErrAccessDenied": ErrAccessDenied, "ErrAnonymous": ErrAnonymous,
		"ErrNoSuchLifecycleConfiguration": ErrNoSuchLifecycleConfiguration, "ErrRequestExpired": ErrRequestExpired, "ErrRequestNotYetValid": ErrRequestNotYetValid,
		"ErrMissingDate": ErrMissingDate, "ErrUnsignedHeaders": ErrUnsignedHeaders,
		"ErrSignatureDoesNotMatch": ErrSignatureDoesNotMatch, "ErrInvalidAccessKeyID": ErrInvalidAccessKeyID,
		"ErrRequestTimeTooSkewed": ErrRequestTimeTooSkewed, "ErrAuthorizationHeaderMalformed": ErrAuthorizationHeaderMalformed,
		"ErrAuthorizationQueryMalformed": ErrAuthorizationQueryMalformed, "ErrUnsupportedSignature": ErrUnsupportedSignature,
		"ErrInvalidBucketName": ErrInvalidBucketName, "ErrBucketNotEmpty": ErrBucketNotEmpty,
		"ErrBucketAlreadyExists": ErrBucketAlreadyExists, "ErrBucketAlreadyOwnedByYou": ErrBucketAlreadyOwnedByYou,
		"ErrInvalidObjectName": ErrInvalidObjectName, "ErrKeyTooLong": ErrKeyTooLong,
		"ErrMalformedPolicy": ErrMalformedPolicy, "ErrNoSuchBucketPolicy": ErrNoSuchBucketPolicy,
		"ErrEntityTooSmall": ErrEntityTooSmall, "ErrEntityTooLarge": ErrEntityTooLarge, "ErrInvalidPart": ErrInvalidPart,
		"ErrInvalidPartOrder": ErrInvalidPartOrder, "ErrInvalidRange": ErrInvalidRange,
		"ErrPreconditionFailed": ErrPreconditionFailed, "ErrNotModified": ErrNotModified,
		"ErrInvalidTag": ErrInvalidTag, "ErrBadRequest": ErrBadRequest, "ErrNoSuchTagSet": ErrNoSuchTagSet,
		"ErrNoSuchCORSConfiguration": ErrNoSuchCORSConfiguration, "ErrCORSForbidden": ErrCORSForbidden,
		"ErrMalformedXML": ErrMalformedXML, "ErrInvalidArgument": ErrInvalidArgument,
		"ErrInvalidLocationConstraint": ErrInvalidLocationConstraint,
		"ErrInvalidContentSHA256":      ErrInvalidContentSHA256, "ErrInvalidDigest": ErrInvalidDigest,
		"ErrBadDigest": ErrBadDigest, "ErrChecksumMismatch": ErrChecksumMismatch, "ErrInvalidChecksum": ErrInvalidChecksum,
		"ErrContentSHA256Mismatch": ErrContentSHA256Mismatch, "ErrIncompleteBody": ErrIncompleteBody,
		"ErrMalformedChunk": ErrMalformedChunk, "ErrInvalidRequest": ErrInvalidRequest,
		"ErrMissingContentLength": ErrMissingContentLength, "ErrRequestTimeout": ErrRequestTimeout,
		"ErrMethodNotAllowed": ErrMethodNotAllowed, "ErrNotImplemented": ErrNotImplemented, "ErrInternal": ErrInternal,
		"ErrSlowDown": ErrSlowDown, "ErrServiceUnavailable": ErrServiceUnavailable,
		"ErrACLNotSupported": ErrACLNotSupported, "ErrACLWithEnforcedOwnership": ErrACLWithEnforcedOwnership,
		"ErrUnresolvableGrantByEmail": ErrUnresolvableGrantByEmail, "ErrMalformedACL": ErrMalformedACL,
		"ErrNoOwnershipControls": ErrNoOwnershipControls, "ErrNoPublicAccessBlock": ErrNoPublicAccessBlock,
		"ErrObjectLockConfigurationNotFound": ErrObjectLockConfigurationNotFound,
		"ErrNoSuchObjectLockConfiguration":   ErrNoSuchObjectLockConfiguration,
		"ErrInvalidBucketState":              ErrInvalidBucketState, "ErrInvalidRetentionPeriod": ErrInvalidRetentionPeriod,
		"ErrInvalidPartNumber": ErrInvalidPartNumber, "ErrMalformedPOSTRequest": ErrMalformedPOSTRequest,
		"ErrMaxPostPreData": ErrMaxPostPreData, "ErrInvalidPolicyDocument": ErrInvalidPolicyDocument,
	}
}

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		code    string
		status  int
		message string
		ok      bool
	}{
		{"sentinel", ErrNoSuchKey, "NoSuchKey", 404, "The specified key does not exist.", true},
		{"wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", ErrBucketNotEmpty)), "BucketNotEmpty", 409, "The bucket you tried to delete is not empty.", true},
		{"detail message", errorf(ErrInvalidArgument, "max-keys must be an integer"), "InvalidArgument", 400, "max-keys must be an integer", true},
		{"wrapped detail", fmt.Errorf("list: %w", errorf(ErrInvalidArgument, "bad")), "InvalidArgument", 400, "bad", true},
		{"expired", ErrRequestExpired, "AccessDenied", 403, "Request has expired", true},
		{"not modified", ErrNotModified, "NotModified", 304, "Not Modified", true},
		{"unknown", errors.New("disk on fire"), "InternalError", 500, apiInternal.Message, false},
		{"context", context.DeadlineExceeded, "InternalError", 500, apiInternal.Message, false},
		{"internal", fmt.Errorf("x: %w", ErrInternal), "InternalError", 500, apiInternal.Message, false},
		{"slow down with a retry time", fmt.Errorf("verify: %w", &SlowDownError{RetryAfter: 3 * time.Second}), "SlowDown", 503, "Please reduce your request rate.", true},
		{"joined: first row wins", errors.Join(ErrNoSuchKey, ErrNoSuchBucket), "NoSuchBucket", 404, "The specified bucket does not exist.", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api, ok := Lookup(tc.err)
			if api.Code != tc.code || api.HTTPStatus != tc.status || api.Message != tc.message || ok != tc.ok {
				t.Errorf("Lookup = %+v, %v; want %s %d %q %v", api, ok, tc.code, tc.status, tc.message, tc.ok)
			}
		})
	}
}

func TestWriteError(t *testing.T) {
	for _, tc := range []struct {
		name, method string
		err          error
		status       int
		body         string
	}{
		{"GET", "GET", ErrNoSuchKey, 404, `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
			`<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Resource>/bucket/a&amp;b</Resource><RequestId>req-7</RequestId></Error>`},
		{"HEAD has no body", "HEAD", ErrNoSuchKey, 404, ""},
		{"304 has no body", "GET", ErrNotModified, 304, ""},
		{"unmapped", "PUT", errors.New("secret detail"), 500, `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
			`<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><Resource>/bucket/a&amp;b</Resource><RequestId>req-7</RequestId></Error>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := httptest.NewRequest(tc.method, "/bucket/a&b", nil)
			WriteError(w, r, "req-7", tc.err)
			if w.Code != tc.status || w.Body.String() != tc.body {
				t.Errorf("got %d %q\nwant %d %q", w.Code, w.Body.String(), tc.status, tc.body)
			}
			if w.Header().Get("X-Amz-Request-Id") != "req-7" {
				t.Errorf("no request id header")
			}
			if tc.body != "" {
				var e ErrorResponse
				if err := xml.Unmarshal(w.Body.Bytes(), &e); err != nil || e.RequestID != "req-7" {
					t.Errorf("body does not decode: %+v %v", e, err)
				}
				if w.Header().Get("Content-Type") != "application/xml" {
					t.Errorf("Content-Type = %q", w.Header().Get("Content-Type"))
				}
			}
		})
	}
}

// TestErrorsDocumented keeps docs/s3.md's error table in step with errorTable: every code
// has a row there, with the table's HTTP status.
func TestErrorsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/s3.md")
	if err != nil {
		t.Skipf("docs not found: %v", err)
	}
	for _, row := range errorTable {
		want := fmt.Sprintf("| `%s` | %d |", row.api.Code, row.api.HTTPStatus)
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/s3.md has no row %q", want)
		}
	}
}

func TestWriteErrorRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"whole seconds", &SlowDownError{RetryAfter: 90 * time.Second}, "90"},
		{"rounded up", fmt.Errorf("verify: %w", &SlowDownError{RetryAfter: 2001 * time.Millisecond}), "3"},
		{"at least one", &SlowDownError{RetryAfter: time.Millisecond}, "1"},
		{"none without a time", ErrSlowDown, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteError(w, httptest.NewRequest("GET", "/b/k", nil), "req-1", tc.err)
			if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != tc.want {
				t.Errorf("got %d, Retry-After %q; want 503, %q", w.Code, w.Header().Get("Retry-After"), tc.want)
			}
		})
	}
}
