// Package configdrive writes the NoCloud seed an instance boots with: a small ISO 9660 image
// labelled "cidata" holding user-data (the RunInstances user data, as given) and meta-data
// (instance ID, hostname and the key pair's public key), which is cloud-init's NoCloud
// convention; computed attaches it to the instance as a read-only CD-ROM.
//
// The image is written here in Go (no genisoimage): a primary volume descriptor for any ISO
// reader and a Joliet supplementary descriptor so Linux (and cloud-init) see the lowercase
// names with hyphens that NoCloud requires. It holds one flat directory, which is all
// NoCloud needs. meta-data is written as JSON, which YAML readers (cloud-init's) parse.
package configdrive
