package client

// Tag is one S3 tag: a key and its value. Object versions and buckets hold their tags as a
// []Tag in the order the client gave them, which is the order S3 clients read them back in;
// the S3 front end checks S3's limits (count, lengths, characters, unique keys) before any
// tag is stored.
type Tag struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}
