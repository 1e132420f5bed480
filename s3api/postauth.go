package s3api

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"net/http"
)

// VerifyPostPolicy authenticates a POST Object form: the policy field signed with SigV4
// (x-amz-algorithm AWS4-HMAC-SHA256, x-amz-credential, x-amz-date, x-amz-signature: the hex
// HMAC-SHA256 of the base64 policy under the day's signing key) or SigV2 (AWSAccessKeyId,
// signature: the base64 HMAC-SHA1 of the base64 policy under the secret). It returns the
// signer's account. fields are the form's, names lower-cased. A wrong signature or an
// unknown key counts against the key and the client's address as any failed
// authentication does. The form's date is not held to the clock skew: the policy's
// expiration bounds how long the form may be used.
func (v *Verifier) VerifyPostPolicy(ctx context.Context, r *http.Request, fields map[string]string) (string, error) {
	policy := fields["policy"]
	addr := clientAddr(r, v.cfg.TrustedProxies)
	if alg, ok := fields["x-amz-algorithm"]; ok {
		if alg != "AWS4-HMAC-SHA256" {
			return "", errorf(ErrInvalidArgument, "Only AWS4-HMAC-SHA256 is supported as x-amz-algorithm.")
		}
		c, ok := parseCredential(fields["x-amz-credential"])
		if !ok {
			return "", errorf(ErrInvalidArgument, "Bucket POST must contain a valid x-amz-credential field.")
		}
		date, ok := parseAmzDate(fields["x-amz-date"])
		if !ok {
			return "", errorf(ErrInvalidArgument, "Bucket POST must contain a valid x-amz-date field.")
		}
		presented := fields["x-amz-signature"]
		if presented == "" {
			return "", errorf(ErrInvalidArgument, "Bucket POST must contain a field named 'x-amz-signature'.")
		}
		if err := v.admit(c.AccessKey, addr); err != nil {
			return "", err
		}
		if err := v.checkScope(c, date, ErrInvalidArgument, "x-amz-credential: "); err != nil {
			return "", err
		}
		secret, owner, err := v.lookup(ctx, c.AccessKey, addr)
		if err != nil {
			return "", err
		}
		if !signatureEqual(sign(signingKey(secret, c), policy), presented) {
			v.failed(reasonSignature, c.AccessKey, addr)
			return "", ErrSignatureDoesNotMatch
		}
		v.limiter.succeeded(c.AccessKey, addr, v.cfg.Now())
		return owner, nil
	}
	key, ok := fields["awsaccesskeyid"]
	if !ok {
		return "", errorf(ErrInvalidArgument, "Bucket POST with a policy must be signed: x-amz-algorithm, x-amz-credential, x-amz-date and x-amz-signature, or AWSAccessKeyId and signature.")
	}
	if v.cfg.DisableSigV2 {
		return "", ErrUnsupportedSignature
	}
	sig := fields["signature"]
	if sig == "" {
		return "", errorf(ErrInvalidArgument, "Bucket POST must contain a field named 'signature'.")
	}
	if err := v.admit(key, addr); err != nil {
		return "", err
	}
	presented, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		v.failed(reasonSignature, key, addr)
		return "", ErrSignatureDoesNotMatch
	}
	secret, owner, err := v.lookup(ctx, key, addr)
	if err != nil {
		return "", err
	}
	if !hmac.Equal(v2Signature(secret, policy), presented) {
		v.failed(reasonSignature, key, addr)
		return "", ErrSignatureDoesNotMatch
	}
	v.limiter.succeeded(key, addr, v.cfg.Now())
	return owner, nil
}
