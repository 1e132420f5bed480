# boto3's flexible checksums: kept, returned and validated; a wrong one refused; a
# multipart upload with a checksum algorithm gets S3's composite checksum.
import base64, hashlib, zlib
data = b'checksummed by boto3' * 1000
s3.put_object(Bucket=BUCKET, Key='b3', Body=data, ChecksumAlgorithm='SHA256')
h = s3.head_object(Bucket=BUCKET, Key='b3', ChecksumMode='ENABLED')
want = base64.b64encode(hashlib.sha256(data).digest()).decode()
assert h['ChecksumSHA256'] == want, h
g = s3.get_object(Bucket=BUCKET, Key='b3', ChecksumMode='ENABLED')
assert g['Body'].read() == data and g['ChecksumSHA256'] == want
try:
    s3.put_object(Bucket=BUCKET, Key='b3', Body=b'other', ChecksumSHA1=base64.b64encode(hashlib.sha1(b'x').digest()).decode())
    raise SystemExit('a wrong sha1 was accepted')
except botocore.exceptions.ClientError as e:
    assert e.response['Error']['Code'] == 'BadDigest', e.response
assert s3.get_object(Bucket=BUCKET, Key='b3')['Body'].read() == data

up = s3.create_multipart_upload(Bucket=BUCKET, Key='b3mp', ChecksumAlgorithm='CRC32')
parts, composite = [], b''
for n, body in ((1, b'a' * (5 << 20)), (2, b'tail')):
    r = s3.upload_part(Bucket=BUCKET, Key='b3mp', UploadId=up['UploadId'], PartNumber=n, Body=body, ChecksumAlgorithm='CRC32')
    crc = zlib.crc32(body).to_bytes(4, 'big')
    assert r['ChecksumCRC32'] == base64.b64encode(crc).decode(), r
    composite += crc
    parts.append({'PartNumber': n, 'ETag': r['ETag'], 'ChecksumCRC32': r['ChecksumCRC32']})
done = s3.complete_multipart_upload(Bucket=BUCKET, Key='b3mp', UploadId=up['UploadId'], MultipartUpload={'Parts': parts})
want = base64.b64encode(zlib.crc32(composite).to_bytes(4, 'big')).decode() + '-2'
assert done['ChecksumCRC32'] == want, done
a = s3.get_object_attributes(Bucket=BUCKET, Key='b3mp', ObjectAttributes=['Checksum', 'ObjectParts', 'ObjectSize'])
assert a['Checksum']['ChecksumCRC32'] == want and a['ObjectParts']['TotalPartsCount'] == 2 and a['ObjectSize'] == (5 << 20) + 4, a
p = s3.get_object(Bucket=BUCKET, Key='b3mp', PartNumber=2, ChecksumMode='ENABLED')
assert p['Body'].read() == b'tail' and p['PartsCount'] == 2, p
print('ok')
