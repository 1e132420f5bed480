# User metadata names come back lower-case, whatever case they were sent in, from PUT,
# CopyObject (COPY and REPLACE) and multipart uploads.
s3.put_object(Bucket=BUCKET, Key='plain', Body=b'x', Metadata={'k': 'v', 'Mixed-Case': 'M'})
got = s3.head_object(Bucket=BUCKET, Key='plain')['Metadata']
assert got == {'k': 'v', 'mixed-case': 'M'}, got
got = s3.get_object(Bucket=BUCKET, Key='plain')['Metadata']
assert got == {'k': 'v', 'mixed-case': 'M'}, got
s3.copy_object(Bucket=BUCKET, Key='copied', CopySource={'Bucket': BUCKET, 'Key': 'plain'})
got = s3.head_object(Bucket=BUCKET, Key='copied')['Metadata']
assert got == {'k': 'v', 'mixed-case': 'M'}, got
s3.copy_object(Bucket=BUCKET, Key='replaced', CopySource={'Bucket': BUCKET, 'Key': 'plain'},
    MetadataDirective='REPLACE', Metadata={'New': 'n'})
got = s3.head_object(Bucket=BUCKET, Key='replaced')['Metadata']
assert got == {'new': 'n'}, got
up = s3.create_multipart_upload(Bucket=BUCKET, Key='multi', Metadata={'Part-Meta': 'p'})
etag = s3.upload_part(Bucket=BUCKET, Key='multi', UploadId=up['UploadId'], PartNumber=1, Body=b'abc')['ETag']
s3.complete_multipart_upload(Bucket=BUCKET, Key='multi', UploadId=up['UploadId'],
    MultipartUpload={'Parts': [{'PartNumber': 1, 'ETag': etag}]})
got = s3.get_object(Bucket=BUCKET, Key='multi')['Metadata']
assert got == {'part-meta': 'p'}, got
print('ok')
