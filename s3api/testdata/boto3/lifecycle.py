# Lifecycle configuration as boto3 sends it: the legacy top-level Prefix, a Date, the
# Content-MD5 it computes, and the errors it parses.
rules = [
    {'ID': 'legacy', 'Prefix': 'old/', 'Status': 'Enabled', 'Expiration': {'Days': 3},
     'AbortIncompleteMultipartUpload': {'DaysAfterInitiation': 1}},
    {'ID': 'dated', 'Filter': {'And': {'Prefix': 'tmp/', 'ObjectSizeGreaterThan': 5}}, 'Status': 'Enabled',
     'Expiration': {'Date': '2031-05-01'}},
]
try:
    s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)
    raise SystemExit('get before put succeeded')
except botocore.exceptions.ClientError as e:
    assert e.response['Error']['Code'] == 'NoSuchLifecycleConfiguration', e.response
    assert e.response['ResponseMetadata']['HTTPStatusCode'] == 404
s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={'Rules': rules})
got = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)['Rules']
assert len(got) == 2, got
assert got[0]['ID'] == 'legacy' and got[0]['Prefix'] == 'old/' and 'Filter' not in got[0], got[0]
assert got[0]['Expiration']['Days'] == 3, got[0]
assert got[1]['Filter']['And']['Prefix'] == 'tmp/' and got[1]['Filter']['And']['ObjectSizeGreaterThan'] == 5, got[1]
d = got[1]['Expiration']['Date']
assert (d.year, d.month, d.day, d.hour) == (2031, 5, 1, 0), d
assert got[0]['AbortIncompleteMultipartUpload']['DaysAfterInitiation'] == 1, got[0]
bad = [{'ID': 'x', 'Filter': {'Prefix': ''}, 'Status': 'Enabled', 'Expiration': {'Days': 0}}]
try:
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={'Rules': bad})
    raise SystemExit('Days 0 accepted')
except botocore.exceptions.ClientError as e:
    assert e.response['Error']['Code'] == 'InvalidArgument', e.response
    assert 'Days' in e.response['Error']['Message'], e.response
tr = [{'ID': 'x', 'Filter': {'Prefix': ''}, 'Status': 'Enabled', 'Transitions': [{'Days': 30, 'StorageClass': 'GLACIER'}]}]
try:
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={'Rules': tr})
    raise SystemExit('transition accepted')
except botocore.exceptions.ClientError as e:
    assert e.response['Error']['Code'] == 'NotImplemented', e.response
# Refusals changed nothing.
assert len(s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)['Rules']) == 2
print('ok')
