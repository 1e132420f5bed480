# boto3's paginator follows NextKeyMarker and NextVersionIdMarker.
whole = s3.list_object_versions(Bucket=BUCKET)
want = sorted((v['Key'], v['VersionId']) for v in whole.get('Versions', []) + whole.get('DeleteMarkers', []))
assert len(want) == 10, want
for size in (1, 2, 5):
    got, latest, pages = [], 0, 0
    for page in s3.get_paginator('list_object_versions').paginate(Bucket=BUCKET, PaginationConfig={'PageSize': size}):
        pages += 1
        items = page.get('Versions', []) + page.get('DeleteMarkers', [])
        assert len(items) <= size, (size, items)
        got += [(v['Key'], v['VersionId']) for v in items]
        latest += sum(1 for v in items if v['IsLatest'])
    assert sorted(got) == want, (size, got)
    assert latest == 5, (size, latest)
    assert pages >= len(want) // size, (size, pages)
print('ok')
