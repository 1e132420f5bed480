package console

import (
	"errors"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// clients are the API clients of one login, signing with its key.
type clients struct {
	s3  *s3.Client
	ec2 *ec2.Client // nil without an EC2 endpoint
}

func newClients(cfg Config, accessKey, secretKey string) *clients {
	creds := credentials.NewStaticCredentialsProvider(accessKey, secretKey, "")
	hc := cfg.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	c := &clients{s3: s3.New(s3.Options{Region: cfg.Region, BaseEndpoint: aws.String(cfg.S3Endpoint), UsePathStyle: true,
		Credentials: creds, HTTPClient: hc, RetryMaxAttempts: 1,
		// Checksums only where S3 demands them: uploads stream, and a trailing checksum
		// would change how their bodies are framed.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired})}
	if cfg.EC2Endpoint != "" {
		c.ec2 = ec2.New(ec2.Options{Region: cfg.Region, BaseEndpoint: aws.String(cfg.EC2Endpoint),
			Credentials: creds, HTTPClient: hc, RetryMaxAttempts: 1})
	}
	return c
}

// unsignedPayload makes an S3 call sign UNSIGNED-PAYLOAD, so a streamed body (which
// cannot be hashed before it is sent) goes out as it is read.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

// apiMessage is what the user is shown of an API error: the service's code and message.
func apiMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		msg := ae.ErrorMessage()
		if msg == "" {
			return ae.ErrorCode()
		}
		return ae.ErrorCode() + ": " + msg
	}
	return err.Error()
}
