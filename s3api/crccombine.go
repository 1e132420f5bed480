package s3api

// crcCombine returns the CRC of A followed by B from crcA, crcB and B's length, for a
// reflected CRC of the given width whose initial value and final xor are all ones (CRC-32,
// CRC-32C, CRC-64/NVME), given its reflected polynomial. It is zlib's crc32_combine:
// appending lenB zero bytes to A is a linear map over GF(2), applied by squaring the
// one-zero-bit operator. A multipart upload's FULL_OBJECT checksum is built this way from
// its parts' checksums, without reading the object again.
func crcCombine(poly uint64, width int, crcA, crcB uint64, lenB int64) uint64 {
	if lenB <= 0 {
		return crcA
	}
	odd := make([]uint64, width) // the operator for one zero bit
	even := make([]uint64, width)
	odd[0] = poly
	for n, row := 1, uint64(1); n < width; n, row = n+1, row<<1 {
		odd[n] = row
	}
	gf2Square(even, odd) // two zero bits
	gf2Square(odd, even) // four zero bits
	for {
		gf2Square(even, odd) // the next power of two: one zero byte first
		if lenB&1 != 0 {
			crcA = gf2Times(even, crcA)
		}
		if lenB >>= 1; lenB == 0 {
			break
		}
		gf2Square(odd, even)
		if lenB&1 != 0 {
			crcA = gf2Times(odd, crcA)
		}
		if lenB >>= 1; lenB == 0 {
			break
		}
	}
	return crcA ^ crcB
}

func gf2Times(mat []uint64, vec uint64) uint64 {
	var sum uint64
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat []uint64) {
	for n := range mat {
		square[n] = gf2Times(mat, mat[n])
	}
}
