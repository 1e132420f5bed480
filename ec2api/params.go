package ec2api

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// params are the parameters of one EC2 Query request: every name once, with its value.
// The Query protocol flattens lists and structures into dotted names: a list is X.1, X.2,
// …; a structure's member is X.Member; so Filter.2.Value.1 is the first value of the second
// filter. Numbering is 1-based and need not be contiguous; order follows the numbers.
type params map[string]string

// maxParams bounds the parameters of a request; the body bound keeps it small already, this
// keeps the lists built from them small too.
const maxParams = 4096

// parseParams merges the query string and, for a form-encoded POST, the body. A name given
// twice (in either, or in both) is refused: EC2 lists are numbered, never repeated.
func parseParams(rawQuery string, form []byte) (params, error) {
	p := params{}
	for _, raw := range []string{rawQuery, string(form)} {
		vals, err := url.ParseQuery(raw)
		if err != nil {
			return nil, errorf(ErrInvalidParameterValue, "The request's parameters are not a valid query string: %v", err)
		}
		for k, v := range vals {
			if strings.HasPrefix(k, "X-Amz-") {
				continue // presigned-URL authentication, not an action parameter
			}
			if _, dup := p[k]; dup || len(v) > 1 {
				return nil, errorf(ErrInvalidParameterValue, "The parameter %s is given more than once.", k)
			}
			p[k] = v[0]
		}
	}
	if len(p) > maxParams {
		return nil, errorf(ErrInvalidParameterValue, "The request has %d parameters; at most %d are allowed.", len(p), maxParams)
	}
	return p, nil
}

// str returns a parameter and whether it was given.
func (p params) str(name string) (string, bool) {
	v, ok := p[name]
	return v, ok
}

// required returns a parameter that must be given and not empty.
func (p params) required(name string) (string, error) {
	v, ok := p[name]
	if !ok || v == "" {
		return "", errorf(ErrMissingParameter, "The request must contain the parameter %s", name)
	}
	return v, nil
}

// integer returns an optional integer parameter in [lo, hi]; def when absent.
func (p params) integer(name string, lo, hi, def int64) (int64, error) {
	v, ok := p[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, errorf(ErrInvalidParameterValue, "Value (%s) for parameter %s is invalid. Expected an integer.", v, name)
	}
	if n < lo || n > hi {
		return 0, errorf(ErrInvalidParameterValue, "Value (%d) for parameter %s is invalid. Expected a value from %d to %d.", n, name, lo, hi)
	}
	return n, nil
}

// boolean returns an optional boolean parameter ("true" or "false"); false when absent.
func (p params) boolean(name string) (bool, error) {
	v, ok := p[name]
	if !ok {
		return false, nil
	}
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errorf(ErrInvalidParameterValue, "Value (%s) for parameter %s is invalid. Expected true or false.", v, name)
}

// indexes returns the numbers N of the names prefix.N[.…], in order.
func (p params) indexes(prefix string) ([]int, error) {
	seen := map[int]bool{}
	for k := range p {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 {
			return nil, errorf(ErrInvalidParameterValue, "The parameter %s is not numbered from 1: %s", prefix, k)
		}
		seen[n] = true
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// list returns the values of prefix.1, prefix.2, … in order.
func (p params) list(prefix string) ([]string, error) {
	idx, err := p.indexes(prefix)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(idx))
	for _, n := range idx {
		name := prefix + "." + strconv.Itoa(n)
		v, ok := p[name]
		if !ok {
			return nil, errorf(ErrInvalidParameterValue, "The parameter %s has members but no value.", name)
		}
		out = append(out, v)
	}
	return out, nil
}

// filter is one Filter.N: a name and the values any of which may match.
type filter struct {
	Name   string
	Values []string
}

// filters returns Filter.N.Name with Filter.N.Value.M, checking each name against known
// (a name ending in ':' admits any suffix, as "tag:" does).
func (p params) filters(known ...string) ([]filter, error) {
	idx, err := p.indexes("Filter")
	if err != nil {
		return nil, err
	}
	var out []filter
	for _, n := range idx {
		base := "Filter." + strconv.Itoa(n)
		name, err := p.required(base + ".Name")
		if err != nil {
			return nil, err
		}
		if !knownFilter(name, known) {
			return nil, errorf(ErrInvalidParameterValue, "The filter '%s' is invalid", name)
		}
		values, err := p.list(base + ".Value")
		if err != nil {
			return nil, err
		}
		if len(values) == 0 {
			return nil, errorf(ErrInvalidParameterValue, "The filter '%s' needs at least one value (%s.Value.1)", name, base)
		}
		out = append(out, filter{Name: name, Values: values})
	}
	return out, nil
}

func knownFilter(name string, known []string) bool {
	for _, k := range known {
		if name == k || strings.HasSuffix(k, ":") && strings.HasPrefix(name, k) && len(name) > len(k) {
			return true
		}
	}
	return false
}

// tag is one resource tag.
type tag struct {
	Key   string
	Value string
	// HasValue reports whether Value was given (DeleteTags tells a missing value, which
	// matches any, from an empty one, which matches only empty).
	HasValue bool
}

// tags returns prefix.N.Key (required) and prefix.N.Value (optional).
func (p params) tags(prefix string) ([]tag, error) {
	idx, err := p.indexes(prefix)
	if err != nil {
		return nil, err
	}
	var out []tag
	for _, n := range idx {
		base := prefix + "." + strconv.Itoa(n)
		k, err := p.required(base + ".Key")
		if err != nil {
			return nil, err
		}
		v, has := p[base+".Value"]
		out = append(out, tag{Key: k, Value: v, HasValue: has})
	}
	return out, nil
}

// tagSpec is one TagSpecification.N: tags for a resource the call creates.
type tagSpec struct {
	ResourceType string
	Tags         []tag
}

// tagsFor returns the tags of TagSpecification.N.ResourceType and .Tag.M.Key/Value for
// resourceType, merged; a specification for any other type is refused, and the tags are
// checked as CreateTags checks them.
func (p params) tagsFor(resourceType string) ([]tag, error) {
	specs, err := p.tagSpecs(resourceType)
	return specs[resourceType], err
}

// tagSpecs returns the tags of TagSpecification.N by resource type, each type's merged and
// checked as CreateTags checks them; a type not among types is refused.
func (p params) tagSpecs(types ...string) (map[string][]tag, error) {
	idx, err := p.indexes("TagSpecification")
	if err != nil {
		return nil, err
	}
	out := map[string][]tag{}
	for _, n := range idx {
		base := "TagSpecification." + strconv.Itoa(n)
		rt, err := p.required(base + ".ResourceType")
		if err != nil {
			return nil, err
		}
		if !slices.Contains(types, rt) {
			return nil, errorf(ErrInvalidParameterValue, "'%s' is not a valid taggable resource type for this operation.", truncate(rt, 64))
		}
		ts, err := p.tags(base + ".Tag")
		if err != nil {
			return nil, err
		}
		out[rt] = append(out[rt], ts...)
	}
	for _, ts := range out {
		if err := checkTags(ts); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// page is MaxResults and NextToken of a paginated call.
type page struct {
	Max   int    // 0: everything
	After string // the sort key to continue after; empty: from the start
}

// page reads MaxResults (at least lo; at most hi are returned) and NextToken. A token is the base64 of the last
// sort key returned, prefixed with the action so one call's token is refused by another.
func (p params) page(action string, lo, hi int64) (page, error) {
	var pg page
	if _, ok := p["MaxResults"]; ok {
		// Above hi is not an error but a page of hi, as EC2 answers (the aws CLI asks
		// for 1000 whatever the call's bound).
		n, err := p.integer("MaxResults", lo, 1<<31-1, 0)
		if err != nil {
			return pg, err
		}
		pg.Max = int(min(n, hi))
	}
	if tok, ok := p["NextToken"]; ok && tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		after, ok2 := strings.CutPrefix(string(raw), action+"\x00")
		if err != nil || !ok2 || after == "" {
			return pg, errorf(ErrInvalidPaginationToken, "Invalid pagination token: %s", tok)
		}
		pg.After = after
	}
	return pg, nil
}

// nextToken is the token that continues action after key.
func nextToken(action, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(action + "\x00" + key))
}

// paginate returns the items of sorted (by key) after pg.After, at most pg.Max of them, and
// the token for the rest ("" when there is none).
func paginate[T any](action string, sorted []T, key func(T) string, pg page) ([]T, string) {
	start := 0
	if pg.After != "" {
		start, _ = slices.BinarySearchFunc(sorted, pg.After, func(it T, k string) int { return strings.Compare(key(it), k) })
		if start < len(sorted) && key(sorted[start]) == pg.After {
			start++
		}
	}
	rest := sorted[start:]
	if pg.Max > 0 && len(rest) > pg.Max {
		return rest[:pg.Max], nextToken(action, key(rest[pg.Max-1]))
	}
	return rest, ""
}

// ownedListing reads the parameters DescribeImages and DescribeSnapshots share: the IDs
// (idParam.N, named setName in errors), Owner.N, an accepted-and-ignored sharing list
// (ignoredParam.N), the filters, and a page of 5 to 1000 — which cannot go with IDs.
func (p params) ownedListing(action, idParam, setName, ignoredParam string, known []string) (ids, owners []string, fs []filter, pg page, err error) {
	if ids, err = p.list(idParam); err != nil {
		return
	}
	if owners, err = p.list("Owner"); err != nil {
		return
	}
	if _, err = p.list(ignoredParam); err != nil {
		return
	}
	if fs, err = p.filters(known...); err != nil {
		return
	}
	if pg, err = p.page(action, 5, 1000); err != nil {
		return
	}
	if len(ids) > 0 && pg.Max > 0 {
		err = errorf(ErrInvalidParameterCombination, "The parameter %s cannot be used with the parameter maxResults", setName)
	}
	return
}
