package objectd

import "sync"

// bufSize is the size of the buffers content is streamed through. It bounds memory per
// request (one buffer each way) whatever the object size, and is large enough that a disk
// sees few, large writes.
const bufSize = 256 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

func getBuf() *[]byte  { return bufPool.Get().(*[]byte) }
func putBuf(b *[]byte) { bufPool.Put(b) }
