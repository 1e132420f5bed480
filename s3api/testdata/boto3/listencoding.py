# boto3 asks for encoding-type=url on every listing and decodes what comes back: the keys
# must come back exactly as they were written.
keys = ['a b/c~d', 'a b/x', 'e+f*g', 't(1)&ü']
got = [o['Key'] for o in s3.list_objects_v2(Bucket=BUCKET)['Contents']]
assert got == keys, got
got = [o['Key'] for o in s3.list_objects(Bucket=BUCKET)['Contents']]
assert got == keys, got
page = s3.list_objects(Bucket=BUCKET, Delimiter=' ', MaxKeys=1)
assert [p['Prefix'] for p in page['CommonPrefixes']] == ['a '], page
assert page['NextMarker'] == 'a ', page
got = [v['Key'] for v in s3.list_object_versions(Bucket=BUCKET, KeyMarker='a b/x')['Versions']]
assert got == keys[2:], got
ups = s3.list_multipart_uploads(Bucket=BUCKET, Prefix='u p/')
assert [u['Key'] for u in ups['Uploads']] == ['u p/1', 'u p/2'], ups
print('ok')
