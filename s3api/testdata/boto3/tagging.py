# Object and bucket tags through boto3: x-amz-tagging on PUT, copy and multipart, the
# tagging calls, the tag count on HEAD, and S3's refusals, which store nothing.
def code(fn, **kw):
    try:
        fn(**kw)
    except botocore.exceptions.ClientError as e:
        return e.response['Error']['Code']
    return None

def tags(key, **kw):
    return [(t['Key'], t['Value']) for t in s3.get_object_tagging(Bucket=BUCKET, Key=key, **kw)['TagSet']]

s3.put_object(Bucket=BUCKET, Key='obj', Body=b'x', Tagging='colour=blue&size=big%20one')
assert tags('obj') == [('colour', 'blue'), ('size', 'big one')], tags('obj')
assert s3.head_object(Bucket=BUCKET, Key='obj')['ResponseMetadata']['HTTPHeaders']['x-amz-tagging-count'] == '2'
s3.put_object_tagging(Bucket=BUCKET, Key='obj', Tagging={'TagSet': [{'Key': 'k', 'Value': 'v'}]})
assert tags('obj') == [('k', 'v')], tags('obj')

eleven = [{'Key': 'k%d' % i, 'Value': 'v'} for i in range(11)]
assert code(s3.put_object_tagging, Bucket=BUCKET, Key='obj', Tagging={'TagSet': eleven}) == 'BadRequest'
for bad in ([{'Key': 'k' * 129, 'Value': 'v'}], [{'Key': 'aws:x', 'Value': 'v'}],
            [{'Key': 'd', 'Value': '1'}, {'Key': 'd', 'Value': '2'}], [{'Key': 'k', 'Value': 'v' * 257}]):
    assert code(s3.put_object_tagging, Bucket=BUCKET, Key='obj', Tagging={'TagSet': bad}) == 'InvalidTag', bad
assert tags('obj') == [('k', 'v')], tags('obj')

s3.copy_object(Bucket=BUCKET, Key='copy', CopySource={'Bucket': BUCKET, 'Key': 'obj'})
assert tags('copy') == [('k', 'v')], tags('copy')
s3.copy_object(Bucket=BUCKET, Key='copy2', CopySource={'Bucket': BUCKET, 'Key': 'obj'},
    TaggingDirective='REPLACE', Tagging='new=1')
assert tags('copy2') == [('new', '1')], tags('copy2')

up = s3.create_multipart_upload(Bucket=BUCKET, Key='multi', Tagging='mp=yes')
etag = s3.upload_part(Bucket=BUCKET, Key='multi', UploadId=up['UploadId'], PartNumber=1, Body=b'abc')['ETag']
s3.complete_multipart_upload(Bucket=BUCKET, Key='multi', UploadId=up['UploadId'],
    MultipartUpload={'Parts': [{'PartNumber': 1, 'ETag': etag}]})
assert tags('multi') == [('mp', 'yes')], tags('multi')

s3.delete_object_tagging(Bucket=BUCKET, Key='obj')
assert tags('obj') == []
assert 'x-amz-tagging-count' not in s3.head_object(Bucket=BUCKET, Key='obj')['ResponseMetadata']['HTTPHeaders']

assert code(s3.get_bucket_tagging, Bucket=BUCKET) == 'NoSuchTagSet'
s3.put_bucket_tagging(Bucket=BUCKET, Tagging={'TagSet': [{'Key': 'team', 'Value': 'storage'}]})
got = s3.get_bucket_tagging(Bucket=BUCKET)['TagSet']
assert got == [{'Key': 'team', 'Value': 'storage'}], got
fifty_one = [{'Key': 'k%d' % i, 'Value': 'v'} for i in range(51)]
assert code(s3.put_bucket_tagging, Bucket=BUCKET, Tagging={'TagSet': fifty_one}) == 'InvalidTag'
assert s3.get_bucket_tagging(Bucket=BUCKET)['TagSet'] == got
s3.delete_bucket_tagging(Bucket=BUCKET)
assert code(s3.get_bucket_tagging, Bucket=BUCKET) == 'NoSuchTagSet'
print('ok')
