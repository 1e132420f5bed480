package s3api

import (
	"reflect"
	"testing"
)

// FuzzLifecycle: parsing a lifecycle configuration never panics, and what it accepts reads
// back (GetBucketLifecycleConfiguration's XML) as the same configuration.
func FuzzLifecycle(f *testing.F) {
	for _, seed := range []string{
		`<LifecycleConfiguration><Rule><ID>a</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>3</Days></Expiration></Rule></LifecycleConfiguration>`,
		`<LifecycleConfiguration><Rule><Prefix>old/</Prefix><Status>Disabled</Status><NoncurrentVersionExpiration><NoncurrentDays>2</NoncurrentDays><NewerNoncurrentVersions>4</NewerNoncurrentVersions></NoncurrentVersionExpiration><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule></LifecycleConfiguration>`,
		`<LifecycleConfiguration><Rule><Filter><And><Prefix>t/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag><ObjectSizeGreaterThan>1</ObjectSizeGreaterThan><ObjectSizeLessThan>9</ObjectSizeLessThan></And></Filter><Status>Enabled</Status><Expiration><Date>2030-01-01T00:00:00.000Z</Date></Expiration></Rule></LifecycleConfiguration>`,
		`<LifecycleConfiguration><Rule><Filter></Filter><Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule></LifecycleConfiguration>`,
		`<LifecycleConfiguration><Rule><Filter><Tag><Key>k</Key><Value></Value></Tag></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>`,
		`<LifecycleConfiguration><Rule><Filter><ObjectSizeLessThan>5</ObjectSizeLessThan></Filter><Status>Enabled</Status><Transition><Days>1</Days></Transition></Rule></LifecycleConfiguration>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		lc, err := parseLifecycle(body)
		if err != nil {
			if lc != nil {
				t.Fatal("a refused configuration came back with a value")
			}
			return
		}
		again, err := parseLifecycle(encodeXML(lifecycleXML(*lc)))
		if err != nil {
			t.Fatalf("accepted configuration does not read back: %v\n%s", err, encodeXML(lifecycleXML(*lc)))
		}
		if !reflect.DeepEqual(lc, again) {
			t.Fatalf("read back as %+v, stored %+v", again, lc)
		}
	})
}
