package client

// ObjectLockConfig is a bucket's Object Lock setting (Bucket.ObjectLock). Its presence means
// Object Lock is enabled, which can never be undone: the bucket's versioning stays enabled
// for good. Stored: never rename a field.
type ObjectLockConfig struct {
	// DefaultMode is the retention mode ("GOVERNANCE" or "COMPLIANCE") given to new versions
	// that set none of their own; "" for no default retention.
	DefaultMode string `json:"default_mode,omitempty"`
	// DefaultDays or DefaultYears (exactly one, when DefaultMode is set) is how long that
	// default retention lasts from the version's creation.
	DefaultDays  int `json:"default_days,omitempty"`
	DefaultYears int `json:"default_years,omitempty"`
}
