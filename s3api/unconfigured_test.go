package s3api_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestUnconfiguredSettings: the bucket settings Stratus does not offer read as never set,
// refuse to be set, and are the owner's alone, like every other setting.
func TestUnconfiguredSettings(t *testing.T) {
	c, cl, ctx := withBucket(t, "plain")
	b := aws.String("plain")

	if _, err := cl.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: b}); code(err) != "ServerSideEncryptionConfigurationNotFoundError" {
		t.Errorf("GetBucketEncryption = %v", err)
	}
	if _, err := cl.GetBucketWebsite(ctx, &s3.GetBucketWebsiteInput{Bucket: b}); code(err) != "NoSuchWebsiteConfiguration" {
		t.Errorf("GetBucketWebsite = %v", err)
	}
	if _, err := cl.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: b}); code(err) != "ReplicationConfigurationNotFoundError" {
		t.Errorf("GetBucketReplication = %v", err)
	}
	if out, err := cl.GetBucketAccelerateConfiguration(ctx, &s3.GetBucketAccelerateConfigurationInput{Bucket: b}); err != nil || out.Status != "" {
		t.Errorf("GetBucketAccelerateConfiguration = %+v, %v", out, err)
	}
	if out, err := cl.GetBucketRequestPayment(ctx, &s3.GetBucketRequestPaymentInput{Bucket: b}); err != nil || out.Payer != types.PayerBucketOwner {
		t.Errorf("GetBucketRequestPayment = %+v, %v", out, err)
	}
	if out, err := cl.GetBucketLogging(ctx, &s3.GetBucketLoggingInput{Bucket: b}); err != nil || out.LoggingEnabled != nil {
		t.Errorf("GetBucketLogging = %+v, %v", out, err)
	}
	if out, err := cl.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: b}); err != nil ||
		len(out.QueueConfigurations)+len(out.TopicConfigurations)+len(out.LambdaFunctionConfigurations) != 0 {
		t.Errorf("GetBucketNotificationConfiguration = %+v, %v", out, err)
	}
	if out, err := cl.ListBucketMetricsConfigurations(ctx, &s3.ListBucketMetricsConfigurationsInput{Bucket: b}); err != nil || len(out.MetricsConfigurationList) != 0 {
		t.Errorf("ListBucketMetricsConfigurations = %+v, %v", out, err)
	}

	// Setting one is refused, and it stays unset; removing one that cannot exist succeeds.
	_, err := cl.PutBucketWebsite(ctx, &s3.PutBucketWebsiteInput{Bucket: b, WebsiteConfiguration: &types.WebsiteConfiguration{
		IndexDocument: &types.IndexDocument{Suffix: aws.String("index.html")}}})
	if code(err) != "NotImplemented" {
		t.Errorf("PutBucketWebsite = %v", err)
	}
	if _, err := cl.GetBucketWebsite(ctx, &s3.GetBucketWebsiteInput{Bucket: b}); code(err) != "NoSuchWebsiteConfiguration" {
		t.Errorf("GetBucketWebsite after a refused put = %v", err)
	}
	if _, err := cl.DeleteBucketEncryption(ctx, &s3.DeleteBucketEncryptionInput{Bucket: b}); err != nil {
		t.Errorf("DeleteBucketEncryption = %v", err)
	}

	// Another account learns nothing about the bucket.
	other := c.AddAccount(t, "other")
	ocl := s3.New(s3.Options{Region: c.Region, BaseEndpoint: aws.String(c.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(other.AccessKey, other.SecretKey, "")})
	if _, err := ocl.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: b}); code(err) != "AccessDenied" {
		t.Errorf("another account's GetBucketEncryption = %v", err)
	}
	if _, err := ocl.GetBucketAccelerateConfiguration(ctx, &s3.GetBucketAccelerateConfigurationInput{Bucket: b}); code(err) != "AccessDenied" {
		t.Errorf("another account's GetBucketAccelerateConfiguration = %v", err)
	}
	if _, err := cl.GetBucketLogging(ctx, &s3.GetBucketLoggingInput{Bucket: aws.String("nope")}); code(err) != "NoSuchBucket" {
		t.Errorf("GetBucketLogging of a missing bucket = %v", err)
	}
}
