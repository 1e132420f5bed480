package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// KernelImages is a kernel and ramdisk uploaded and registered for a benchmark.
type KernelImages struct {
	KernelID, RamdiskID string
	// Remove deregisters them and deletes their objects and bucket.
	Remove func(ctx context.Context) error
}

// RegisterKernelImages uploads kernel and initrd to a new bucket through the S3 endpoint
// and registers them through the EC2 one as an aki- and an ari- (the object's image-type
// metadata says which), as an EC2 user would.
func RegisterKernelImages(ctx context.Context, cfg EC2Config, s3Endpoint, bucket, kernel, initrd string) (*KernelImages, error) {
	s3c := s3.New(s3.Options{Region: cfg.Region, BaseEndpoint: aws.String(s3Endpoint), UsePathStyle: true, RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, ""), HTTPClient: &http.Client{Timeout: 2 * time.Minute}})
	ec2c := NewEC2Client(cfg.Endpoint, cfg.Region, cfg.AccessKey, cfg.SecretKey)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	ki := &KernelImages{}
	var keys []string
	ki.Remove = func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		var errs []error
		for _, id := range []string{ki.KernelID, ki.RamdiskID} {
			if id != "" {
				if _, err := ec2c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)}); err != nil {
					errs = append(errs, fmt.Errorf("deregister %s: %w", id, err))
				}
			}
		}
		for _, k := range keys {
			if _, err := s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)}); err != nil {
				errs = append(errs, fmt.Errorf("delete %s/%s: %w", bucket, k, err))
			}
		}
		if _, err := s3c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
			errs = append(errs, fmt.Errorf("delete bucket %s: %w", bucket, err))
		}
		return errors.Join(errs...)
	}
	register := func(key, path, kind string) (string, error) {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: f,
			Metadata: map[string]string{"image-type": kind}}); err != nil {
			return "", fmt.Errorf("upload %s: %w", path, err)
		}
		keys = append(keys, key)
		out, err := ec2c.RegisterImage(ctx, &ec2.RegisterImageInput{ImageLocation: aws.String(bucket + "/" + key), Name: aws.String(bucket + "-" + key)})
		if err != nil {
			return "", fmt.Errorf("register %s/%s: %w", bucket, key, err)
		}
		return aws.ToString(out.ImageId), nil
	}
	var err error
	if ki.KernelID, err = register("vmlinux", kernel, "kernel"); err == nil {
		ki.RamdiskID, err = register("initrd.img", initrd, "ramdisk")
	}
	if err != nil {
		return nil, errors.Join(err, ki.Remove(context.WithoutCancel(ctx)))
	}
	return ki, nil
}
