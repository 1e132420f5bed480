// Package bench generates load against any S3 endpoint and reports what it measured:
// throughput, operations per second, latency percentiles (and time to first byte for
// reads) and errors by S3 code. It speaks only the public protocol — SigV4-signed HTTP —
// so the same run can measure Stratus or any other S3 service on the same machine; the
// suite can run each of its cases against Stratus and then a peer endpoint, alternating, and
// report the ratio.
//
// Load generation must not be the bottleneck: requests are signed with the payload
// unsigned (as S3 allows over any transport), bodies come from one shared buffer, and
// responses are drained without copying. BenchmarkCeiling measures the tool against an
// endpoint that does nothing, which bounds what any run can report.
package bench
