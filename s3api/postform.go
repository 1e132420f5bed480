package s3api

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"net/http"
	"strings"
)

// The multipart/form-data body of a POST Object (browser upload), read as it streams: the
// fields before the file are parsed (they are small and bounded), the file's bytes are
// handed over without being held, and what follows the file must be the form's closing
// boundary.

const (
	// maxPostPreData bounds the form before the file's bytes: field names, values and part
	// headers. S3 allows 20 KB of fields; the part headers come on top.
	maxPostPreData = 64 << 10
	// maxPostLine bounds one line of the form before the file.
	maxPostLine = 32 << 10
)

// postForm is a POST Object form up to its file field.
type postForm struct {
	fields   map[string]string // lower-cased names; the first of a repeated field
	filename string            // the file part's filename parameter
	file     io.Reader         // the file's bytes: exactly size of them
	size     int64
	// closing checks, once the file's bytes have been read, that the form ends there.
	closing func() error
}

// countingReader counts the bytes read from r.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readPostForm reads r's form up to the start of the file's bytes. The file's size is
// what Content-Length leaves after the bytes before it and the closing delimiter
// ("\r\n--boundary--\r\n", which browsers, curl, requests and Go's mime/multipart all end
// a form with): the data path must know it before the first byte. A form that goes on
// otherwise after the file (fields after it, another ending) fails closing, before
// anything is stored.
func readPostForm(r *http.Request) (*postForm, error) {
	malformed := func(msg string) error { return errorf(ErrMalformedPOSTRequest, msg) }
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	boundary := params["boundary"]
	if err != nil || boundary == "" {
		return nil, malformed("The body of your POST request is not well-formed multipart/form-data: no boundary.")
	}
	if r.ContentLength < 0 {
		return nil, unknownLength(r)
	}
	cr := &countingReader{r: r.Body}
	br := bufio.NewReaderSize(cr, maxPostLine)
	delim := "--" + boundary
	budget := maxPostPreData
	readLine := func() ([]byte, error) {
		line, err := br.ReadSlice('\n')
		if budget -= len(line); budget < 0 || err == bufio.ErrBufferFull {
			return nil, ErrMaxPostPreData
		}
		if err != nil {
			return nil, malformed("The body of your POST request ended before its file field.")
		}
		return bytes.Clone(line), nil
	}
	// isDelimiter reports whether line is a boundary line, and whether it is the last one.
	isDelimiter := func(line []byte) (bool, bool) {
		l := strings.TrimRight(string(line), " \t\r\n")
		return l == delim || l == delim+"--", l == delim+"--"
	}
	for {
		line, err := readLine()
		if err != nil {
			return nil, err
		}
		if ok, last := isDelimiter(line); ok {
			if last {
				return nil, noFileField()
			}
			break
		}
	}
	f := &postForm{fields: map[string]string{}}
	for {
		disposition := ""
		for {
			line, err := readLine()
			if err != nil {
				return nil, err
			}
			l := strings.TrimRight(string(line), "\r\n")
			if l == "" {
				break
			}
			if name, value, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "Content-Disposition") {
				disposition = strings.TrimSpace(value)
			}
		}
		kind, dp, err := mime.ParseMediaType(disposition)
		if err != nil || kind != "form-data" || dp["name"] == "" {
			return nil, malformed("A part of your POST request has no form-data Content-Disposition with a name.")
		}
		name := strings.ToLower(dp["name"])
		if name == "file" {
			consumed := cr.n - int64(br.Buffered())
			ending := "\r\n" + delim + "--\r\n"
			f.size = r.ContentLength - consumed - int64(len(ending))
			if f.size < 0 {
				return nil, malformed("The body of your POST request is shorter than its Content-Length says.")
			}
			f.filename = dp["filename"]
			f.file = &boundaryGuard{r: io.LimitReader(br, f.size), delim: []byte("\r\n" + delim)}
			f.closing = func() error {
				buf := make([]byte, len(ending)+1)
				n, _ := io.ReadFull(br, buf)
				if n != len(ending) || string(buf[:n]) != ending {
					return malformed("The file must be the last field of the form, which must end right after it with the closing boundary.")
				}
				return nil
			}
			return f, nil
		}
		var value []byte
		for {
			line, err := readLine()
			if err != nil {
				return nil, err
			}
			if ok, last := isDelimiter(line); ok {
				if _, seen := f.fields[name]; !seen {
					f.fields[name] = string(bytes.TrimSuffix(value, []byte("\r\n")))
				}
				if last {
					return nil, noFileField()
				}
				break
			}
			value = append(value, line...)
		}
	}
}

func noFileField() error {
	return errorf(ErrInvalidArgument, "POST requires exactly one file upload per request.")
}

// boundaryGuard passes the file's bytes through and fails if they hold the form's
// delimiter: then the form goes on after the file (or is not what its length says), and
// the bytes are not the file's.
type boundaryGuard struct {
	r     io.Reader
	delim []byte
	tail  []byte // the last len(delim)-1 bytes seen, for a delimiter split across reads
}

func (g *boundaryGuard) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if n > 0 {
		keep := len(g.delim) - 1
		// Only the bytes where the last read and this one meet need copying.
		junction := append(g.tail, p[:min(n, keep)]...)
		if bytes.Contains(junction, g.delim) || bytes.Contains(p[:n], g.delim) {
			return 0, errorf(ErrMalformedPOSTRequest, "The file must be the last field of the form, which must end right after it with the closing boundary.")
		}
		if n >= keep {
			g.tail = append(g.tail[:0], p[n-keep:n]...)
		} else {
			g.tail = append(g.tail[:0], junction[max(0, len(junction)-keep):]...)
		}
	}
	return n, err
}
