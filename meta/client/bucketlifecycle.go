package client

import "time"

// Lifecycle is a bucket's lifecycle configuration (S3's PutBucketLifecycleConfiguration):
// rules that expire objects, old versions, delete markers and abandoned multipart uploads.
// The S3 front end validates it before it is stored; a background scanner acts on it.
type Lifecycle struct {
	Rules []LifecycleRule `json:"rules"`
}

// LifecycleRule is one rule: which objects (Filter) and what happens to them. A rule with
// several actions applies each on its own.
type LifecycleRule struct {
	ID       string          `json:"id,omitempty"`
	Disabled bool            `json:"disabled,omitempty"`
	Filter   LifecycleFilter `json:"filter"`
	// Expiration expires current versions; nil: none.
	Expiration *LifecycleExpiration `json:"expiration,omitempty"`
	// NoncurrentExpiration deletes versions some time after they stopped being current;
	// nil: none.
	NoncurrentExpiration *NoncurrentExpiration `json:"noncurrent_expiration,omitempty"`
	// AbortMultipartDays aborts multipart uploads this many days after they began; 0: never.
	AbortMultipartDays int `json:"abort_multipart_days,omitempty"`
}

// LifecycleFilter selects the objects a rule applies to: all of its conditions must hold.
type LifecycleFilter struct {
	Prefix string         `json:"prefix,omitempty"`
	Tags   []LifecycleTag `json:"tags,omitempty"`
	// SizeGreaterThan and SizeLessThan bound the object's size in bytes (0: no bound).
	SizeGreaterThan int64 `json:"size_greater_than,omitempty"`
	SizeLessThan    int64 `json:"size_less_than,omitempty"`
	// Form is how the client wrote the filter, so that it reads back as sent: "legacy" (the
	// rule's top-level Prefix), "and" (Filter/And), "prefix", "tag", "gt", "lt" (a Filter of
	// that one condition), or "" (an empty Filter: every object).
	Form string `json:"form,omitempty"`
}

// LifecycleTag is a tag an object must carry for a rule to apply.
type LifecycleTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// LifecycleExpiration says when current versions expire: Days after they were written, or
// from Date on; or, with ExpiredObjectDeleteMarker, that a delete marker left with no
// versions under it is removed.
type LifecycleExpiration struct {
	Days                      int       `json:"days,omitempty"`
	Date                      time.Time `json:"date,omitzero"`
	ExpiredObjectDeleteMarker bool      `json:"expired_object_delete_marker,omitempty"`
}

// NoncurrentExpiration deletes a version Days after a newer one replaced it, keeping the
// NewerVersions newest noncurrent versions whatever their age.
type NoncurrentExpiration struct {
	Days          int `json:"days"`
	NewerVersions int `json:"newer_versions,omitempty"`
}
