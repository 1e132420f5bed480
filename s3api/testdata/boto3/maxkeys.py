# max-keys=0: an empty page, not truncated.
out = s3.list_objects_v2(Bucket=BUCKET, MaxKeys=0)
assert out['KeyCount'] == 0 and not out['IsTruncated'] and 'Contents' not in out, out
out = s3.list_objects(Bucket=BUCKET, MaxKeys=0)
assert not out['IsTruncated'] and 'Contents' not in out, out
print('ok')
