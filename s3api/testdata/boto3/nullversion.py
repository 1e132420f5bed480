# With versioning suspended a DELETE puts a null delete marker in place of the null
# version; a second one replaces it; DELETE VersionId='null' removes it.
s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={'Status': 'Enabled'})
v1 = s3.put_object(Bucket=BUCKET, Key='k', Body=b'v1')['VersionId']
s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={'Status': 'Suspended'})
s3.put_object(Bucket=BUCKET, Key='k', Body=b'null body')
for _ in range(2):
    r = s3.delete_object(Bucket=BUCKET, Key='k')
    assert r.get('DeleteMarker') is True and r.get('VersionId') == 'null', r
    l = s3.list_object_versions(Bucket=BUCKET)
    assert [v['VersionId'] for v in l.get('Versions', [])] == [v1], l
    assert [(m['VersionId'], m['IsLatest']) for m in l.get('DeleteMarkers', [])] == [('null', True)], l
r = s3.delete_object(Bucket=BUCKET, Key='k', VersionId='null')
assert r.get('DeleteMarker') is True and r.get('VersionId') == 'null', r
l = s3.list_object_versions(Bucket=BUCKET)
assert 'DeleteMarkers' not in l and [v['VersionId'] for v in l['Versions']] == [v1], l
assert s3.get_object(Bucket=BUCKET, Key='k')['Body'].read() == b'v1'
# The batch delete says the same.
r = s3.delete_objects(Bucket=BUCKET, Delete={'Objects': [{'Key': 'k'}]})
d = r['Deleted'][0]
assert d.get('DeleteMarker') is True and d.get('DeleteMarkerVersionId') == 'null', r
print('ok')
