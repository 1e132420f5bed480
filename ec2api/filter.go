package ec2api

import "strings"

// matchAny reports whether s matches one of the filter values, each of which may hold the
// wildcards EC2 filters allow: '*' for any run of characters, '?' for one, and '\' to
// escape either.
func matchAny(values []string, s string) bool {
	for _, v := range values {
		if wildcardMatch(v, s) {
			return true
		}
	}
	return false
}

// wildcardMatch matches s against pattern; backtracking only to the last '*', so the
// cost is O(len(pattern)·len(s)) at worst.
func wildcardMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		if p < len(pattern) {
			c := pattern[p]
			switch {
			case c == '*':
				star, mark = p, i
				p++
				continue
			case c == '?':
				p++
				i++
				continue
			case c == '\\' && p+1 < len(pattern):
				if pattern[p+1] == s[i] {
					p += 2
					i++
					continue
				}
			case c == s[i]:
				p++
				i++
				continue
			}
		}
		if star < 0 {
			return false
		}
		p = star + 1
		mark++
		i = mark
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// tagFilters are the filter names every taggable resource's Describe call accepts.
var tagFilters = []string{"tag:", "tag-key", "tag-value"}

// matchTags reports whether a resource with tags passes the tag filters among fs (others
// are ignored here): tag:K (K set to one of the values), tag-key, tag-value.
func matchTags(fs []filter, tags map[string]string) bool {
	for _, f := range fs {
		switch {
		case strings.HasPrefix(f.Name, "tag:"):
			v, ok := tags[strings.TrimPrefix(f.Name, "tag:")]
			if !ok || !matchAny(f.Values, v) {
				return false
			}
		case f.Name == "tag-key":
			if !anyTag(tags, func(k, _ string) bool { return matchAny(f.Values, k) }) {
				return false
			}
		case f.Name == "tag-value":
			if !anyTag(tags, func(_, v string) bool { return matchAny(f.Values, v) }) {
				return false
			}
		}
	}
	return true
}

func anyTag(tags map[string]string, ok func(k, v string) bool) bool {
	for k, v := range tags {
		if ok(k, v) {
			return true
		}
	}
	return false
}

// matchFields reports whether a resource whose filterable fields are fields passes every
// filter of fs that names one of them (the others, such as tag filters, are checked
// elsewhere).
func matchFields(fs []filter, fields map[string]string) bool {
	for _, f := range fs {
		v, ok := fields[f.Name]
		if ok && !matchAny(f.Values, v) {
			return false
		}
	}
	return true
}
