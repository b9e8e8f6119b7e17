import dagster as dg

from native_pipeline.lake import BadKey, check_key

# One partition per crawl dump; the landing-zone sensor adds them as dumps arrive.
crawl_dumps = dg.DynamicPartitionsDefinition(name="crawl_dumps")


def dump_key(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> str:
    """The run's dump, refused unless it is a valid key (`lake.KEY`): a key added through the
    instance API or GraphQL reaches the asset without passing the sensor."""
    try:
        return check_key(context.partition_key, "dump name")
    except BadKey as err:
        raise dg.Failure(str(err)) from None
