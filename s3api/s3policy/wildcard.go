package s3policy

import "unicode/utf8"

// matchWildcard reports whether s matches pattern, where '*' matches any run of characters
// (including none, and including '/') and '?' matches exactly one character, as IAM's Like
// operators and ARN patterns do. With fold set, ASCII letters compare case-insensitively
// (action names); otherwise exactly (keys, condition values).
//
// It is the classic greedy matcher that backtracks only to the last '*': linear in
// len(s)*len(pattern) at worst, with no recursion and no allocation.
func matchWildcard(pattern, s string, fold bool) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == '?':
			p++
			i += runeLen(s[i:])
		case p < len(pattern) && sameByte(pattern[p], s[i], fold):
			p++
			i++
		case star >= 0:
			// Let the last '*' swallow one more character and try again from there.
			mark += runeLen(s[mark:])
			p, i = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func sameByte(a, b byte, fold bool) bool {
	if a == b {
		return true
	}
	if !fold {
		return false
	}
	return lowerASCII(a) == lowerASCII(b)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// hasWildcard reports whether s holds '*' or '?'.
func hasWildcard(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '*' || s[i] == '?' {
			return true
		}
	}
	return false
}

// runeLen is the width of the UTF-8 character s starts with (1 for a byte that starts none),
// so '?' and '*' step over whole characters of a key.
func runeLen(s string) int {
	if s[0] < utf8.RuneSelf {
		return 1
	}
	_, n := utf8.DecodeRuneInString(s)
	return n
}
