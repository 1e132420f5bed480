package ec2api

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	meta "stratus/meta/client"
)

func init() {
	actions["CreateTags"] = (*Server).createTags
	actions["DeleteTags"] = (*Server).deleteTags
	actions["DescribeTags"] = (*Server).describeTags
}

// Bounds of tags, EC2's.
const (
	MaxTagsPerResource = 50
	maxTagKeyChars     = 128
	maxTagValueChars   = 256
	// maxTagRetries bounds the rereads when a resource's tags change under a write.
	maxTagRetries = 8
)

// checkTags refuses tags EC2 refuses: empty or long keys, long values, keys starting with
// the reserved "aws:", and one key given twice.
func checkTags(ts []tag) error {
	seen := map[string]bool{}
	for _, t := range ts {
		switch {
		case t.Key == "" || utf8.RuneCountInString(t.Key) > maxTagKeyChars || !utf8.ValidString(t.Key):
			return errorf(ErrInvalidParameterValue, "Tag key '%s' must be 1 to %d characters of UTF-8.", truncate(t.Key, 64), maxTagKeyChars)
		case utf8.RuneCountInString(t.Value) > maxTagValueChars || !utf8.ValidString(t.Value):
			return errorf(ErrInvalidParameterValue, "The value of tag '%s' must be at most %d characters of UTF-8.", t.Key, maxTagValueChars)
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return errorf(ErrInvalidParameterValue, "Tag keys starting with 'aws:' are reserved for internal use")
		case seen[t.Key]:
			return errorf(ErrInvalidParameterValue, "The tag key '%s' is given more than once.", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// tagMap turns tags into a map (for a new resource's record).
func tagMap(ts []tag) map[string]string {
	m := make(map[string]string, len(ts))
	for _, t := range ts {
		m[t.Key] = t.Value
	}
	return m
}

// newTagsOps are the writes that store the tags of a resource being created (none for no
// tags), to go in the transaction that creates it.
func newTagsOps(account, id, resourceType string, ts []tag) []meta.Op {
	if len(ts) == 0 {
		return nil
	}
	return []meta.Op{meta.ResourceTags{Account: account, Resource: id, ResourceType: resourceType, Tags: tagMap(ts)}.Op(0)}
}

// tagSet renders a resource's tags in key order.
func tagSet(tags map[string]string) set[tagItem] {
	var out set[tagItem]
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		out.Items = append(out.Items, tagItem{Key: k, Value: tags[k]})
	}
	return out
}

// resourceType returns the EC2 type of a resource the account owns, or the NotFound error
// of its kind (an ID of no known kind is InvalidID).
func (s *Server) resourceType(ctx context.Context, account, id string) (string, error) {
	switch {
	case strings.HasPrefix(id, "vol-"):
		if _, _, err := s.ownVolume(ctx, account, id); err != nil {
			return "", err
		}
		return "volume", nil
	case strings.HasPrefix(id, "key-"):
		kps, err := s.meta.KeyPairs(ctx, account)
		if err != nil {
			return "", err
		}
		if !slices.ContainsFunc(kps, func(k meta.KeyPair) bool { return k.ID == id }) {
			return "", errorf(ErrKeyPairNotFound, "The key pair '%s' does not exist", id)
		}
		return "key-pair", nil
	case strings.HasPrefix(id, "snap-"):
		if _, _, err := s.ownSnapshot(ctx, account, id); err != nil {
			return "", err
		}
		return "snapshot", nil
	case strings.HasPrefix(id, "ami-"), strings.HasPrefix(id, "aki-"), strings.HasPrefix(id, "ari-"):
		im, err := s.usableImage(ctx, account, id)
		if err != nil && !errors.Is(err, ErrIncorrectState) {
			return "", err
		}
		if im.Account != account {
			// An operator's image is visible to every account, but not theirs to tag.
			return "", errorf(ErrImageNotFound, "The image id '[%s]' does not exist", id)
		}
		return "image", nil
	case strings.HasPrefix(id, "i-"):
		if _, _, err := s.ownInstance(ctx, account, id); err != nil {
			return "", err
		}
		return "instance", nil
	}
	return "", errorf(ErrInvalidID, "The ID '%s' is not valid", truncate(id, 64))
}

// resourceIDs returns ResourceId.N, at least one, each owned by the account, with its type.
func (s *Server) resourceIDs(ctx context.Context, c *call) (ids, types []string, err error) {
	ids, err = c.Params.list("ResourceId")
	if err != nil {
		return nil, nil, err
	}
	if len(ids) == 0 {
		return nil, nil, errorf(ErrMissingParameter, "The request must contain the parameter ResourceId")
	}
	for _, id := range ids {
		t, err := s.resourceType(ctx, c.Account, id)
		if err != nil {
			return nil, nil, err
		}
		types = append(types, t)
	}
	return ids, types, nil
}

type returnResponse struct {
	response
	Return bool `xml:"return"`
}

// createTags adds or overwrites tags on resources the caller owns: all of them or, if one
// is not the caller's or a limit is passed, none.
func (s *Server) createTags(ctx context.Context, c *call) (responder, error) {
	ids, types, err := s.resourceIDs(ctx, c)
	if err != nil {
		return nil, err
	}
	ts, err := c.Params.tags("Tag")
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, errorf(ErrMissingParameter, "The request must contain the parameter Tag")
	}
	if err := checkTags(ts); err != nil {
		return nil, err
	}
	err = s.updateTags(ctx, c.Account, ids, types, func(tags map[string]string) error {
		for _, t := range ts {
			tags[t.Key] = t.Value
		}
		if len(tags) > MaxTagsPerResource {
			return errorf(ErrTagLimitExceeded, "The maximum number of tags (%d) per resource would be exceeded.", MaxTagsPerResource)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

// deleteTags removes tags from resources the caller owns: Tag.N.Key with a Value removes the
// tag only if it has that value; with no Tag.N every tag goes.
func (s *Server) deleteTags(ctx context.Context, c *call) (responder, error) {
	ids, types, err := s.resourceIDs(ctx, c)
	if err != nil {
		return nil, err
	}
	ts, err := c.Params.tags("Tag")
	if err != nil {
		return nil, err
	}
	err = s.updateTags(ctx, c.Account, ids, types, func(tags map[string]string) error {
		if len(ts) == 0 {
			clear(tags)
		}
		for _, t := range ts {
			if v, ok := tags[t.Key]; ok && (!t.HasValue || v == t.Value) {
				delete(tags, t.Key)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}

// updateTags applies change to the tags of every resource in one transaction, conditional
// on none of them having changed since read; on a conflict it reads again.
func (s *Server) updateTags(ctx context.Context, account string, ids, types []string, change func(map[string]string) error) error {
	for range maxTagRetries {
		var ops []meta.Op
		for i, id := range ids {
			rt, idx, err := s.meta.Tags(ctx, account, id)
			if err != nil {
				return err
			}
			rt.ResourceType = types[i]
			if err := change(rt.Tags); err != nil {
				return err
			}
			if idx == 0 && len(rt.Tags) == 0 {
				continue // nothing stored, nothing to store
			}
			ops = append(ops, rt.Op(idx))
		}
		if len(ops) == 0 {
			return nil
		}
		_, err := s.meta.Apply(ctx, ops...)
		if !errors.Is(err, meta.ErrConflict) {
			return err
		}
	}
	return errorf(ErrRequestLimitExceeded, "The tags changed under this request %d times; try again.", maxTagRetries)
}

type tagDescription struct {
	ResourceID   string `xml:"resourceId"`
	ResourceType string `xml:"resourceType"`
	Key          string `xml:"key"`
	Value        string `xml:"value"`
}

type describeTagsResponse struct {
	response
	TagSet    set[tagDescription] `xml:"tagSet"`
	NextToken string              `xml:"nextToken,omitempty"`
}

// describeTags lists the caller's tags, by resource ID then key. Filters: resource-id,
// resource-type, key, value, tag:<key>.
func (s *Server) describeTags(ctx context.Context, c *call) (responder, error) {
	fs, err := c.Params.filters("resource-id", "resource-type", "key", "value", "tag:")
	if err != nil {
		return nil, err
	}
	pg, err := c.Params.page(c.Action, 5, 1000)
	if err != nil {
		return nil, err
	}
	all, err := s.meta.AccountTags(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	var match []tagDescription
	for _, rt := range all {
		if !matchTags(fs, rt.Tags) {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(rt.Tags)) {
			d := tagDescription{ResourceID: rt.Resource, ResourceType: rt.ResourceType, Key: k, Value: rt.Tags[k]}
			if matchFields(fs, map[string]string{"resource-id": d.ResourceID, "resource-type": d.ResourceType, "key": d.Key, "value": d.Value}) {
				match = append(match, d)
			}
		}
	}
	items, next := paginate(c.Action, match, func(d tagDescription) string { return d.ResourceID + "\x00" + d.Key }, pg)
	return &describeTagsResponse{TagSet: set[tagDescription]{Items: items}, NextToken: next}, nil
}
