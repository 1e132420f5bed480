package client

// CORSConfig is a bucket's cross-origin resource sharing configuration (S3's
// PutBucketCors): the rules a browser's request is matched against, first match wins.
type CORSConfig struct {
	Rules []CORSRule `json:"rules"`
}

// CORSRule is one CORSRule of a configuration. Origins and headers may hold one "*"
// wildcard each; methods are GET, PUT, POST, DELETE or HEAD.
type CORSRule struct {
	ID             string   `json:"id,omitempty"`
	AllowedOrigins []string `json:"origins"`
	AllowedMethods []string `json:"methods"`
	AllowedHeaders []string `json:"headers,omitempty"`
	ExposeHeaders  []string `json:"expose,omitempty"`
	// MaxAgeSeconds is how long a browser may cache a preflight answer; nil sends none.
	MaxAgeSeconds *int `json:"max_age,omitempty"`
}
