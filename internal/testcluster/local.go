package testcluster

import objclient "stratus/objectd/client"

// LocalChunks returns the node's direct chunk calls (objectd's LocalChunks), as a block
// device in the node's own process makes them. It follows restarts: each call goes to the
// node's current server, and a stopped node refuses it as a stopped server does.
func (n *Node) LocalChunks() objclient.LocalChunks { return nodeLocal{n} }

type nodeLocal struct{ n *Node }

func (l nodeLocal) WriteChunk(t objclient.Target, w objclient.ChunkWrite, data []byte) (objclient.ChunkResult, error) {
	return l.n.Server().LocalChunks().WriteChunk(t, w, data)
}

func (l nodeLocal) ZeroChunk(t objclient.Target, z objclient.ChunkZero) (objclient.ChunkResult, error) {
	return l.n.Server().LocalChunks().ZeroChunk(t, z)
}

func (l nodeLocal) ReadChunk(t objclient.Target, name string, off int64, buf []byte) (objclient.ChunkRead, error) {
	return l.n.Server().LocalChunks().ReadChunk(t, name, off, buf)
}

func (l nodeLocal) FlushChunks(t objclient.Target, chunks []objclient.ChunkRef) (objclient.ChunkFlushResult, error) {
	return l.n.Server().LocalChunks().FlushChunks(t, chunks)
}
