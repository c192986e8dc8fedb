"""The agencies OneVisit knows: the name used on queues, in keys and on-chain, and the title."""

AGENCIES: dict[str, str] = {
    "market_regulation": "济南市市场监督管理局 Market regulation",
    "public_security": "济南市公安局 Public security",
    "tax": "国家税务总局济南市税务局 Tax",
    "human_resources": "济南市人力资源和社会保障局 Human resources and social security",
    "housing_fund": "济南住房公积金中心 Housing provident fund",
    "bank": "开户银行 Account bank",
    "health_commission": "济南市卫生健康委员会 Health commission",
    "hospital_qilu": "山东大学齐鲁医院 Qilu Hospital",
    "hospital_provincial": "山东省立医院 Shandong Provincial Hospital",
}

# The hospitals of the health card network: each reads a card by its own step (read_<short name>).
HOSPITALS: dict[str, str] = {"hospital_qilu": "read_qilu", "hospital_provincial": "read_provincial"}
