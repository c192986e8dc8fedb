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
    "big_data": "济南市大数据局 Big data bureau (authorised data sharing)",
    "bank_qilu": "齐鲁银行 Qilu Bank",
    "bank_rural": "济南农商银行 Jinan Rural Commercial Bank",
    "utilities": "济南水务·供电·燃气 Utilities",
    "court": "济南市中级人民法院 Jinan Intermediate People's Court",
}

# The hospitals of the health card network: each reads a card by its own step (read_<short name>).
HOSPITALS: dict[str, str] = {"hospital_qilu": "read_qilu", "hospital_provincial": "read_provincial"}

# The lending banks of SME credit (一贷通): each decides, offers, records acceptance and disburses by
# its own steps (credit_decision_<short name>, credit_offer_…, offer_acceptance_…, disbursement_…).
BANKS: dict[str, str] = {"bank_qilu": "qilu", "bank_rural": "rural"}
