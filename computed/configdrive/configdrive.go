package configdrive

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Label is the volume label cloud-init's NoCloud looks for.
const Label = "cidata"

// MaxUserData is the most user data a drive carries: EC2's limit (16 KiB) rounded up
// generously, so the image stays small.
const MaxUserData = 64 << 10

// Seed is what an instance learns from its config drive.
type Seed struct {
	InstanceID string
	Hostname   string
	// PublicKeys are OpenSSH authorized_keys lines (the instance's key pair).
	PublicKeys []string
	// UserData is passed through unchanged (a script, #cloud-config, MIME multipart…).
	UserData []byte
	// Created stamps the image; zero means now.
	Created time.Time
}

type metaData struct {
	InstanceID    string   `json:"instance-id"`
	LocalHostname string   `json:"local-hostname,omitempty"`
	PublicKeys    []string `json:"public-keys,omitempty"`
}

// Files returns the files of the seed's NoCloud directory by name.
func (s Seed) Files() (map[string][]byte, error) {
	if s.InstanceID == "" {
		return nil, errors.New("config drive: no instance ID")
	}
	if len(s.UserData) > MaxUserData {
		return nil, fmt.Errorf("config drive: user data is %d bytes, more than %d", len(s.UserData), MaxUserData)
	}
	meta, err := json.MarshalIndent(metaData{s.InstanceID, s.Hostname, s.PublicKeys}, "", "  ")
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		"meta-data": append(meta, '\n'),
		"user-data": s.UserData,
	}, nil
}

// Write writes the seed's image to path atomically: a temporary file beside it, synced,
// then renamed, so an instance never boots from half a drive.
func Write(path string, s Seed) error {
	files, err := s.Files()
	if err != nil {
		return err
	}
	created := s.Created
	if created.IsZero() {
		created = time.Now()
	}
	img, err := buildISO(Label, files, created.UTC())
	if err != nil {
		return fmt.Errorf("config drive: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".cidata-*")
	if err != nil {
		return fmt.Errorf("config drive: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(img); err != nil {
		tmp.Close()
		return fmt.Errorf("config drive: %w", err)
	}
	// Readable by the hypervisor's user; it holds nothing the guest's owner may not see.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("config drive: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("config drive: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("config drive: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("config drive: %w", err)
	}
	return nil
}
