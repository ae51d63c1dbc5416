"""GraphQL documents shared by the model tests."""

MODEL_FIELDS = """
fragment M on Model {
  id name description modelType status lookbackWindow forecastHorizon targetMode batchSize epochs
  learningRate validationRatio testRatio earlyStoppingPatience entityType entityId feature
  fiwareService fiwareServicePath historyStore createdAt updatedAt
  rnnLayers { units dropout recurrentDropout }
  denseLayers { units dropout activation }
}
"""

CREATE = (
    MODEL_FIELDS
    + """
mutation Create($input: CreateModelInput!) {
  createModel(input: $input) { model { ...M } errors { code message field } }
}
"""
)

UPDATE = (
    MODEL_FIELDS
    + """
mutation Update($id: ID!, $input: UpdateModelInput!) {
  updateModel(id: $id, input: $input) { model { ...M } errors { code message field } }
}
"""
)

DELETE = """
mutation Delete($id: ID!) { deleteModel(id: $id) { deletedId errors { code message field } } }
"""

GET = MODEL_FIELDS + "query Get($id: ID!) { model(id: $id) { ...M } }"

LIST = """
query List($filter: ModelFilter, $first: Int, $after: String) {
  models(filter: $filter, first: $first, after: $after) {
    totalCount
    edges { cursor node { id name entityId createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
