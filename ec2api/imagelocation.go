package ec2api

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	meta "stratus/meta/client"
)

// imageTypeMeta is the S3 user metadata key ("x-amz-meta-image-type") that marks an object
// as a kernel or a ramdisk to register. EC2's RegisterImage has no parameter for it; in
// Eucalyptus the bundle's manifest said it (euca-bundle-image --kernel/--ramdisk), and here
// the object carries it: aws s3 cp vmlinuz s3://b/vmlinuz --metadata image-type=kernel.
const imageTypeMeta = "image-type"

// probeBytes is how much of an image RegisterImage reads: a qcow2 header with room.
const probeBytes = 512

// imageObject is what RegisterImage learnt of the object it registers.
type imageObject struct {
	Kind   meta.ImageKind
	Format string // machine images: raw or qcow2
	Size   int64
}

// readImageObject reads bucket/key through the S3 API as the caller — signed with the
// caller's own access key, so exactly what S3 lets the caller read can be registered (the
// bucket's owner; the host fetching the image checks the same) — and probes it: its size,
// its kind (user metadata image-type), and a machine image's format from its first bytes.
func (s *Server) readImageObject(ctx context.Context, accessKey, bucket, key string) (imageObject, error) {
	if s.cfg.S3Endpoint == "" {
		return imageObject{}, errorf(ErrUnsupportedOperation, "This server has no S3 endpoint configured to read images from.")
	}
	secret, _, err := s.keys.lookup(ctx, accessKey)
	if err != nil {
		return imageObject{}, err
	}
	hc := s.cfg.S3HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	region := s.cfg.S3Region
	if region == "" {
		region = s.cfg.Region
	}
	cl := s3.New(s3.Options{Region: region, BaseEndpoint: aws.String(s.cfg.S3Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secret, ""), HTTPClient: hc, RetryMaxAttempts: 1})
	loc := bucket + "/" + key
	head, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return imageObject{}, s3Refusal(loc, err)
	}
	obj := imageObject{Kind: meta.ImageMachine, Size: aws.ToInt64(head.ContentLength)}
	switch t := strings.ToLower(head.Metadata[imageTypeMeta]); t {
	case "", "machine":
	case "kernel":
		obj.Kind = meta.ImageKernel
	case "ramdisk":
		obj.Kind = meta.ImageRamdisk
	default:
		return obj, errorf(ErrInvalidManifest, "The object %s says image-type '%s'; want kernel, ramdisk or machine.", truncate(loc, 128), truncate(t, 32))
	}
	if obj.Size == 0 {
		return obj, errorf(ErrInvalidManifest, "The object %s is empty.", truncate(loc, 128))
	}
	get, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Range: aws.String(fmt.Sprintf("bytes=0-%d", probeBytes-1))})
	if err != nil {
		return obj, s3Refusal(loc, err)
	}
	head512, err := io.ReadAll(io.LimitReader(get.Body, probeBytes))
	get.Body.Close()
	if err != nil {
		return obj, fmt.Errorf("read %s: %w", loc, err)
	}
	switch obj.Kind {
	case meta.ImageMachine:
		if obj.Format, err = probeFormat(head512); err != nil {
			return obj, errorf(ErrInvalidManifest, "The object %s: %v", truncate(loc, 128), err)
		}
	case meta.ImageKernel:
		if !looksLikeKernel(head512) {
			return obj, errorf(ErrInvalidManifest, "The object %s is marked a kernel but is neither an ELF file nor a Linux bzImage.", truncate(loc, 128))
		}
	}
	return obj, nil
}

// s3Refusal turns S3's answer to the caller into RegisterImage's: an object the caller
// may not read, or that is not there, is InvalidManifest either way (the caller learns
// nothing of others' buckets); S3 being unreachable is Unavailable.
func s3Refusal(loc string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return errorf(ErrInvalidManifest, "The object %s does not exist or you may not read it.", truncate(loc, 128))
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500 {
		return errorf(ErrInvalidManifest, "The object %s does not exist or you may not read it.", truncate(loc, 128))
	}
	return fmt.Errorf("%w: read %s from S3: %w", ErrUnavailable, loc, err)
}

// qcow2 header fields (big-endian), from QEMU's docs/interop/qcow2.txt.
var qcow2Magic = []byte{'Q', 'F', 'I', 0xfb}

const (
	qcow2BackingOffset   = 8  // u64: offset of the backing file name; 0 if none
	qcow2IncompatOffset  = 72 // u64 (version 3): incompatible feature bits
	qcow2ExternalDataBit = 1 << 2
	qcow2V3HeaderBytes   = 104
)

// probeFormat says whether an image's first bytes are a qcow2 header (then qcow2) or not
// (raw). A qcow2 image naming a backing file, or an external data file, is refused: the
// host's QEMU would open that file — any path on the host — as part of the disk.
func probeFormat(b []byte) (string, error) {
	if !bytes.HasPrefix(b, qcow2Magic) {
		return "raw", nil
	}
	if len(b) < qcow2V3HeaderBytes {
		return "", errors.New("the qcow2 header is truncated")
	}
	switch v := binary.BigEndian.Uint32(b[4:8]); v {
	case 2:
	case 3:
		if binary.BigEndian.Uint64(b[qcow2IncompatOffset:])&qcow2ExternalDataBit != 0 {
			return "", errors.New("the qcow2 image names an external data file")
		}
	default:
		return "", fmt.Errorf("qcow2 version %d is not 2 or 3", v)
	}
	if binary.BigEndian.Uint64(b[qcow2BackingOffset:]) != 0 {
		return "", errors.New("the qcow2 image names a backing file; register a standalone image (qemu-img convert)")
	}
	return "qcow2", nil
}

// looksLikeKernel reports whether b starts an ELF file (a vmlinux, booted through PVH) or
// a Linux bzImage (the "HdrS" boot protocol signature at 0x202).
func looksLikeKernel(b []byte) bool {
	return bytes.HasPrefix(b, []byte("\x7fELF")) || len(b) >= 0x206 && string(b[0x202:0x206]) == "HdrS"
}
